"""PLACEHOLDER (being written)."""
class SSMLoRAConfig: pass
