"""uses."""
