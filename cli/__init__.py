"""The `gap` command line."""
