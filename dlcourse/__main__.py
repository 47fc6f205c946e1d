"""`python -m dlcourse` runs the CLI."""

from dlcourse.cli import main

main()
