"""`mebench stats` and `mebench compare`."""
import click


@click.command("stats")
def stats():
    """Bootstrap CIs and permutation tests for a stored run."""
    raise click.ClickException("not implemented yet")


@click.command("compare")
def compare():
    """Compare pipelines run on the same samples and folds."""
    raise click.ClickException("not implemented yet")
