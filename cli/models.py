"""`gap models`: bundled models and model folders, with their cards."""

from __future__ import annotations

from pathlib import Path

import click

from gaptorch import list_models
from gaptorch.cli.errors import GapError
from gaptorch.cli.options import debug_option
from gaptorch.model_folder import CARD_NAME, find_model_folders, read_model_spec
from gaptorch.pretrained import BUNDLED, DEFAULTS, HERE


def _card(folder: Path) -> str:
    path = folder / CARD_NAME
    return path.read_text() if path.is_file() else "(no model card)\n"


def _summary(folder: Path) -> str:
    spec = read_model_spec(folder)
    steps = spec.training.get("steps", "?")
    card = [line.strip() for line in _card(folder).splitlines() if line.strip()]
    title = card[0].lstrip("# ") if card else ""
    dims = spec.network.get("dims", 2)
    return f"{spec.kind} {spec.method} {spec.architecture} ({dims}D, {steps} steps): {title}"


@click.command()
@click.argument("name", required=False)
@click.option(
    "--path",
    "root",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to search for model folders (two levels deep).",
)
@debug_option
def models(name: str | None, root: Path) -> None:
    """List bundled models and model folders under --path; with NAME, print its card.

    \b
    Examples:
      gap models
      gap models my-model
    """
    if name is not None:
        if name in BUNDLED:
            click.echo(_card(HERE / BUNDLED[name].folder), nl=False)
            return
        folder = Path(name)
        if not folder.is_dir():
            known = ", ".join(list_models()) or "none bundled in this version"
            raise GapError(f"{name}: neither a model folder nor a bundled model (bundled: {known})")
        read_model_spec(folder)
        click.echo(_card(folder), nl=False)
        return
    click.echo("bundled models:")
    if not BUNDLED:
        defaults = ", ".join(f"{kind} {model}" for kind, model in DEFAULTS.items())
        click.echo(f"  none in this version (defaults to come: {defaults})")
    for bundled in list_models():
        entry = BUNDLED[bundled]
        default = " [default]" if bundled in DEFAULTS.values() else ""
        click.echo(f"  {bundled}{default}: {entry.kind}, {entry.summary}")
    click.echo(f"model folders under {root}:")
    folders = find_model_folders(root)
    for folder in folders:
        try:
            click.echo(f"  {folder}: {_summary(folder)}")
        except (ValueError, OSError) as error:
            click.echo(f"  {folder}: unreadable ({str(error).splitlines()[0]})")
    if not folders:
        click.echo("  none")
