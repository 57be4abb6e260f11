"""Training objectives and inference procedures, one module per method."""
