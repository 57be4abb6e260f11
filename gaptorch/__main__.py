"""`python -m gaptorch` runs the `gap` command line."""

from gaptorch.cli.main import main

if __name__ == "__main__":
    main()
