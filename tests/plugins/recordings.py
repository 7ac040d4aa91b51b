"""pytest fixtures shared across the suite (recordings)."""
