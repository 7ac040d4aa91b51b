"""pytest fixtures shared across the suite (leads)."""
