"""PLACEHOLDER (being written)."""
def adapter_layers(model): raise NotImplementedError
def from_state_space(layer, sys): raise NotImplementedError
def reduce_adapters(model, order=None, tol=None, gramians="exact"): raise NotImplementedError
def to_state_space(layer): raise NotImplementedError
