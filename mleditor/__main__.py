"""`python -m mleditor` runs the command line."""

from mleditor.cli import main

main()
