"""Samplers: the seeded training order (resumable) and its loader, resumable in Lightning's
terms, and an evaluation sampler for DDP that splits a dataset without padding it."""

from __future__ import annotations

from collections.abc import Iterator, Sized

import numpy as np
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler


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


def sample_seed(seed: int, epoch: int, index: int) -> int:
    """The augmentation seed of sample ``index`` in ``epoch``: a function of the three only, so
    a resumed run draws the same augmentations as the straight run (any worker count)."""
    return int(np.random.SeedSequence([seed % 2**32, epoch, index]).generate_state(1)[0])


class SeededEpochSampler(DistributedSampler):
    """Training order and augmentation seeds that depend only on ``(seed, epoch)``.

    Yields ``(index, sample_seed)`` pairs: the order is a permutation seeded by ``seed +
    epoch`` (PyTorch's ``DistributedSampler``, also in one process, so under DDP each rank
    takes its shard of the same permutation), and the dataset seeds each sample's augmentation
    from its pair. Lightning calls :meth:`set_epoch` before every epoch, so stopping after
    any epoch and resuming replays exactly the straight run's data.
    """

    def __init__(self, dataset: Sized, seed: int = 0) -> None:
        if dist.is_available() and dist.is_initialized():
            world, rank = dist.get_world_size(), dist.get_rank()
        else:
            world, rank = 1, 0
        super().__init__(
            dataset, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=False
        )

        self._resume: tuple[int, int] | None = None  # (epoch, samples already trained)

    def resume_at(self, epoch: int, samples: int) -> None:
        """Skip the first ``samples`` of this rank's order in ``epoch`` (a run stopped mid-epoch,
        e.g. by SIGTERM, resumes with the batches it had not trained yet)."""
        self._resume = (epoch, samples)

    def __iter__(self) -> Iterator[tuple[int, int]]:  # type: ignore[override]
        skip = self._resume[1] if self._resume and self._resume[0] == self.epoch else 0
        for i, index in enumerate(super().__iter__()):
            if i >= skip:
                yield index, sample_seed(self.seed, self.epoch, index)

    def __len__(self) -> int:
        skip = self._resume[1] if self._resume and self._resume[0] == self.epoch else 0
        return max(0, super().__len__() - skip)


class ResumableLoader(DataLoader):
    """The training loader, resumable in Lightning's terms (``state_dict`` /
    ``load_state_dict``), which it is: its position needs no state of its own. The order and
    every sample's augmentation come from ``(seed, epoch, index)``
    (:class:`SeededEpochSampler`), and the datamodule builds a restored mid-epoch loader that
    skips the batches the loop had trained (:meth:`SeededEpochSampler.resume_at`), so the
    resumed run equals the straight run (tests/test_resume.py). Without the interface Lightning
    warns after such a resume that the loader "is not resumable" and results may be
    unreliable."""

    def state_dict(self) -> dict:
        """Nothing: the loop's progress and the run's seed place the loader (see the class)."""
        return {}

    def load_state_dict(self, state_dict: dict) -> None:
        """Nothing to restore (see :meth:`state_dict`)."""
