"""Process-group setup for `torchrun` launches (DistributedDataParallel); a single process needs none.

torchrun sets RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT; we read them and initialise the default
process group: NCCL when training on CUDA, gloo on CPU. Rank 0 alone logs and writes checkpoints.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


def resolve_device(name: str | None, local_rank: int = 0) -> torch.device:
    """'auto' / None: cuda if available, else cpu. Plain 'cuda' under torchrun becomes cuda:LOCAL_RANK."""
    if name in (None, "auto"):
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda requested but CUDA is not available")
        if device.index is None:
            device = torch.device("cuda", local_rank)
    return device


@dataclass
class DistributedContext:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @classmethod
    def from_environment(cls, device: str | None = None) -> "DistributedContext":
        """Join the process group torchrun describes (WORLD_SIZE > 1), else a single-process context."""
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        resolved = resolve_device(device, local_rank)
        if world_size > 1:
            if resolved.type == "cuda":
                torch.cuda.set_device(resolved)
            backend = "nccl" if resolved.type == "cuda" else "gloo"
            if not dist.is_initialized():
                dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
        return cls(rank=rank, local_rank=local_rank, world_size=world_size, device=resolved)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """Mean of a tensor over ranks (the tensor itself with one process)."""
        if not self.enabled:
            return value
        value = value.detach().clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
        return value / self.world_size

    def gather(self, obj: Any) -> list[Any]:
        """[obj of rank 0, obj of rank 1, ...] on every rank."""
        if not self.enabled:
            return [obj]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()
