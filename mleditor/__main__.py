"""`python -m mleditor` runs the command line."""

from mleditor.cli.main import main

main()
