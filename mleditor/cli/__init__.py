"""The `mleditor` command line: `main` here, one module per door (training, serve, batch)."""

from mleditor.cli.main import main

__all__ = ["main"]
