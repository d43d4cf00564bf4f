"""An evaluation sampler for DDP that splits a dataset without padding it."""

from __future__ import annotations

from collections.abc import Iterator

from torch.utils.data import DistributedSampler


class UnpaddedDistributedSampler(DistributedSampler):
    """Rank r takes indices r, r + W, r + 2W, ... and nothing more.

    PyTorch's ``DistributedSampler`` repeats samples to even out the shards, which would count
    some images twice in the metrics; evaluation under DDP must see each image exactly once so
    that it equals a single-process evaluation.
    """

    def __init__(self, dataset, num_replicas: int | None = None, rank: int | None = None) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False)

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, len(self.dataset), self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, len(self.dataset), self.num_replicas))
