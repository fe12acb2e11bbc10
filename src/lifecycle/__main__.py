"""`python -m lifecycle` runs the command line."""

from lifecycle.entrypoints.cli import main

main()
