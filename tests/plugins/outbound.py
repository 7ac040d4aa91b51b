"""pytest fixtures shared across the suite (outbound)."""
