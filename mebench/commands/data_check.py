"""`mebench data check` and `mebench data info` (dataset validation summaries)."""
import click


@click.command("check")
def check():
    """Validate a dataset copy and print a summary."""
    raise click.ClickException("not implemented yet")


@click.command("info")
def info():
    """Show a dataset's metadata and label sets."""
    raise click.ClickException("not implemented yet")
