"""The `mleditor` command line: `mleditor.cli.main:main` is the entry point; one module per door (training,
serve, batch), shared options and consoles in `options`, the exit-code table in `exit_codes`."""

__all__: list[str] = []
