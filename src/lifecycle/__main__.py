"""`python -m lifecycle` runs the command line."""

from lifecycle.cli import main

main()
