"""Hostile and broken input, one real misbehaving server per case (issue 12)."""
