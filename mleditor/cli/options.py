"""What every `mleditor` command shares: the two consoles, the options several commands take, and the
command class that lets one option take several values (`--input a.xml b.xml`).

Each option is a function returning a fresh `typer.Option`, so a command declares it as a default
(`version: str = version_option()`) and every command spells it, and documents it, the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

import typer
from rich.console import Console
from typer.core import TyperCommand

__all__ = [
    "PREDICTION_STORE_ENV", "account_store_option", "err", "json_option", "model_dir_option", "out",
    "prediction_store_option", "several_values", "spread_values", "version_option",
]

out = Console()
err = Console(stderr=True)

PREDICTION_STORE_ENV = "MLEDITOR_STORE"


def version_option() -> Any:
    return typer.Option("v3", "--model", "-m",
                        help="Model version: v3 (score + advice, default), v2 (score), v1 (rules).")


def model_dir_option() -> Any:
    return typer.Option(None, "--model-dir", help="Model directory or id (default: the shipped model).")


def json_option(help: str = "Print JSON.") -> Any:
    return typer.Option(False, "--json", help=help)


def account_store_option() -> Any:
    """The SQLite file holding the server's API keys and user profiles."""
    return typer.Option(None, "--store", help="SQLite store (default: store_path from the settings, mleditor.db).")


def prediction_store_option() -> Any:
    """Where batch predictions are written and read (required; env MLEDITOR_STORE)."""
    return typer.Option(..., "--store", "-s", envvar=PREDICTION_STORE_ENV,
                        help="sqlite:///file.db (embedded) or postgresql://user:pw@host/db (shared); "
                             "env MLEDITOR_STORE.")


def spread_values(args: Sequence[str], names: Sequence[str]) -> list[str]:
    """`--input a b --json` as `--input a --input b --json`: the values after one of `names`, up to the next option."""
    spread: list[str] = []
    taking: Optional[str] = None  # the option of `names` whose values are being read
    waiting = False  # it has not had its first value yet
    for position, arg in enumerate(args):
        if arg == "--":
            return spread + list(args[position:])
        if arg.startswith("-") and arg != "-":
            taking, waiting = _option_of(arg, names)
        elif taking is not None:
            if not waiting:
                spread.append(taking)
            waiting = False
        spread.append(arg)
    return spread


def _option_of(arg: str, names: Sequence[str]) -> tuple[Optional[str], bool]:
    """Which of `names` `arg` opens, if any, and whether its first value is still to come."""
    name = arg.split("=", 1)[0]
    if name in names:
        return name, "=" not in arg
    short = arg[:2]
    if not arg.startswith("--") and short in names:  # `-ia.xml`: the first value is attached
        return short, False
    return None, False


def several_values(*names: str) -> type[TyperCommand]:
    """A command class whose options `names` take every value up to the next option (and still repeat)."""

    class SeveralValuesCommand(TyperCommand):
        def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
            return super().parse_args(ctx, spread_values(args, names))

    return SeveralValuesCommand
