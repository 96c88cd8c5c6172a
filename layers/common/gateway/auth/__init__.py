"""API keys: generation, hashing and authentication."""
