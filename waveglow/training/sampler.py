"""A DistributedSampler that can start an epoch part-way through, for exact mid-epoch resumption."""
from __future__ import annotations

from typing import Iterator

from torch.utils.data import DistributedSampler


class ResumableDistributedSampler(DistributedSampler):
    """torch's DistributedSampler (shuffle seeded by seed + epoch, rank r takes every world_size-th index of the
    permutation) whose iteration can skip the first `start_index` indices of this rank's share.

    Works without a process group: pass num_replicas=1, rank=0 for single-process training.
    """

    def __init__(self, dataset, num_replicas: int, rank: int, seed: int, shuffle: bool = True):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed,
                         drop_last=False)
        self.start_index = 0

    def set_epoch(self, epoch: int, start_index: int = 0) -> None:
        """Select the epoch's permutation; skip this rank's first `start_index` indices (batches done x batch)."""
        super().set_epoch(epoch)
        if not 0 <= start_index <= self.num_samples:
            raise ValueError(f"start_index must be in [0, {self.num_samples}], got {start_index}")
        self.start_index = start_index

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        return iter(indices[self.start_index:])

    def __len__(self) -> int:
        return self.num_samples - self.start_index
