"""Sample images shipped with gaptorch (see README.md here)."""
