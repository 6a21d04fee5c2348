"""Distributed data parallel helpers: launch under `torchrun` or `accelerate launch`.

Both launchers set `WORLD_SIZE` / `RANK` / `LOCAL_RANK` / `MASTER_ADDR`; when they are
present the harness joins a process group (NCCL on CUDA, gloo otherwise), wraps each model in
`DistributedDataParallel`, draws different training batches on each rank (so the global batch is
`world_size * batch_size`), shards evaluation and sums its counts with `all_reduce`. Only
rank 0 writes results.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

__all__ = ["Dist", "all_reduce_sum", "init_distributed"]


@dataclass(frozen=True)
class Dist:
    """The process's place in the job (`world_size == 1` when not distributed)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Whether this process writes results and prints."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """Whether a process group is in use."""
        return self.world_size > 1

    def barrier(self) -> None:
        """Wait for every rank (no-op when not distributed)."""
        if self.enabled:
            torch.distributed.barrier()


def init_distributed(device: str = "cpu") -> Dist:
    """Join the process group described by the launcher's environment, if any.

    Parameters
    ----------
    device : str
        `cuda` selects NCCL and pins `cuda:LOCAL_RANK`; anything else uses gloo.

    Returns
    -------
    Dist

    Examples
    --------
    >>> import os
    >>> init_distributed().world_size == int(os.environ.get("WORLD_SIZE", "1"))
    True
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not torch.distributed.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local)
        torch.distributed.init_process_group(backend=backend)
    return Dist(rank, world, local)


def all_reduce_sum(values: list[float], dist: Dist, device: str = "cpu") -> list[float]:
    """Sum a list of numbers over every rank (identity when not distributed).

    Examples
    --------
    >>> all_reduce_sum([1.0, 2.0], Dist())
    [1.0, 2.0]
    """
    if not dist.enabled:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(tensor)
    return tensor.tolist()
