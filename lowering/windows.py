"""windows rules."""
