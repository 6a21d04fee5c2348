"""PLACEHOLDER (being written)."""
class HRMConfig: pass
