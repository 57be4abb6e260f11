"""`python -m gaptorch.cli` (what `torchrun -m gaptorch.cli ...` runs)."""

from gaptorch.cli.main import main

if __name__ == "__main__":
    main()
