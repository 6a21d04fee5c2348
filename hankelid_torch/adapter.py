"""PLACEHOLDER (being written)."""
