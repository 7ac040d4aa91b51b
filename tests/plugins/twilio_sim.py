"""pytest fixtures shared across the suite (twilio_sim)."""
