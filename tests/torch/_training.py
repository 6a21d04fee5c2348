"""A short Adam loop shared by the tests that check an adapter can learn."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def adam_losses(model: Any, params: Iterable[Any], *, lr: float, steps: int, **batch: Any) -> list[float]:
    """Run ``steps`` Adam steps on ``model(**batch).loss`` and return the loss before each step.

    The gradients of the last step are left in place so a test can inspect them.
    """
    import torch  # here, not at the top: collecting this module must not need torch

    opt = torch.optim.Adam(list(params), lr=lr)
    losses = []
    for _ in range(steps):
        loss = model(**batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses
