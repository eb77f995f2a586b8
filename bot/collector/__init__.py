"""collector layer."""
