"""``SODDataModule``: DUTS, the benchmark sets and the demo data through one code path."""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from ras_lightning.data.collate import TrainCollate, eval_collate
from ras_lightning.data.dataset import SODDataset
from ras_lightning.data.demo import make_demo_data
from ras_lightning.data.discovery import discover_set, find_set_dirs
from ras_lightning.data.integrity import verify_sets
from ras_lightning.data.leaks import audit_leaks, drop_leaked, no_audit
from ras_lightning.data.sample import Sample
from ras_lightning.data.samplers import (
    ResumableLoader,
    SeededEpochSampler,
    UnpaddedDistributedSampler,
)
from ras_lightning.data.transforms import eval_transform, train_transform
from ras_lightning.utils.errors import DataError

log = logging.getLogger(__name__)


class SODDataModule(L.LightningDataModule):
    """Training, validation and test sets of salient-object data.

    Every set is ``<root>/<name>/`` with an image and a mask folder in one of the known layouts
    (see :mod:`ras_lightning.data.discovery`). Validation: the named ``val_sets``, else a
    seeded ``val_fraction`` of the training set (DUTS has no validation split), else none
    (``val_fraction=0``, the paper strategies: the authors train on every DUTS-TR pair).
    With ``demo=True`` the synthetic demo sets are generated into ``root`` first.

    Before anything trains, every photo and mask of the stage's sets is decoded once
    (:mod:`ras_lightning.data.integrity`, cached across runs): :meth:`prepare_data` (rank 0
    under DDP) checks the sets of the trainer's stage (fit: train + validation; without a
    trainer, fit), :meth:`setup` any set not checked yet.

    Leaks (``ras-audit``): when an audit of the training photos' folder exists (``audit_dir``,
    else the latest one in the cache), set-up logs one line with its count of test photos
    found in the training set; ``exclude_leaks=True`` drops them from the test sets
    (:attr:`excluded_leaks`: set -> file names) and needs an audit.

    The train command checks the values first (``training/config_checks.py``: one line
    naming the key).
    """

    def __init__(
        self,
        root: str,
        train_set: str = "DUTS-TR",
        val_sets: Sequence[str] | None = None,
        test_sets: Sequence[str] = ("DUTS-TE", "ECSSD", "HKU-IS", "DUT-OMRON", "PASCAL-S"),
        batch_size: int = 10,
        num_workers: int = 0,
        recipe: str = "v1",
        image_size: int = 352,
        eval_size: int | None = None,
        multiscale: Sequence[int] | None = None,
        val_fraction: float = 0.05,
        split_seed: int = 0,
        on_unpaired: str = "error",
        layouts: dict[str, dict[str, str]] | None = None,
        pin_memory: bool | None = None,
        persistent_workers: bool = True,
        demo: bool = False,
        eval_batch_size: int | None = None,
        max_pixels: int | None = None,
        exclude_leaks: bool = False,
        audit_dir: str | None = None,
    ) -> None:
        super().__init__()
        self.root = str(root)
        self.train_set = train_set
        self.val_sets = list(val_sets or [])
        self.test_sets = list(test_sets or [])
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.num_workers = num_workers
        self.recipe = recipe
        self.image_size = image_size
        self.eval_size = eval_size or image_size
        self.multiscale = list(multiscale) if multiscale else None
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        self.on_unpaired = on_unpaired
        self.layouts = dict(layouts or {})
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers
        self.demo = demo
        self.max_pixels = max_pixels  # files claiming more are refused before decoding
        self.train_data: SODDataset | None = None
        self.val_data: list[SODDataset] = []
        self.test_data: list[SODDataset] = []
        self._checked: dict[str, list[Sample]] = {}  # set name -> pairs that passed the check
        self.exclude_leaks = bool(exclude_leaks)
        self.audit_dir = audit_dir
        self._leaks: dict[str, list[str]] | None = None  # set -> leaked photos' file names
        #: set -> file names of the test photos left out as leaks (``exclude_leaks=True``)
        self.excluded_leaks: dict[str, list[str]] = {}

    # -- names used in logged keys --------------------------------------------------------
    @property
    def val_names(self) -> list[str]:
        """The validation sets' names; empty when no validation was asked for (the paper
        strategies: every DUTS-TR pair trains, as the authors)."""
        if self.val_sets:
            return list(self.val_sets)
        return [f"{self.train_set}-holdout"] if self.val_fraction > 0 else []

    @property
    def test_names(self) -> list[str]:
        return list(self.test_sets)

    def _stage_sets(self, stage: str | None) -> list[str]:
        names = []
        if stage in ("fit", "validate", None):
            names += [self.train_set, *self.val_sets]
        if stage in ("test", None):
            names += self.test_sets
        return list(dict.fromkeys(names))

    def prepare_data(self) -> None:
        if self.demo:
            make_demo_data(self.root)
        fn = getattr(getattr(self.trainer, "state", None), "fn", None)
        self._check(self._stage_sets(str(fn.value) if fn is not None else "fit"))

    def _check(self, names: Sequence[str]) -> None:
        """Discover, pair and fully decode the sets ``names`` not checked yet (one pool)."""
        new = [n for n in names if n not in self._checked]
        if new:
            found = {n: self._discover(n) for n in new}
            self._checked.update(verify_sets(found, self.on_unpaired))

    def _discover(self, name: str) -> list[Sample]:
        layout = self.layouts.get(name)
        return discover_set(self.root, name, self.on_unpaired, layout, self.max_pixels)

    def _leak_audit(self) -> dict[str, list[str]]:
        """set -> leaked photos' file names from the audit of the training folder (looked up
        once, its line logged); ``exclude_leaks`` without an audit is a :class:`DataError`."""
        if self._leaks is None:
            try:
                train = find_set_dirs(self.root, self.train_set, *self._layout(self.train_set))[0]
            except DataError:
                if self.exclude_leaks:
                    raise
                self._leaks = {}  # no training set here (a test-only use): nothing to look up
                return self._leaks
            dirs = {}
            for name in self.test_sets:
                try:  # a missing test set is reported when (and only if) the run tests
                    dirs[name] = str(find_set_dirs(self.root, name, *self._layout(name))[0])
                except DataError:
                    continue
            line, self._leaks, found = audit_leaks(str(train), dirs, self.train_set, self.audit_dir)
            if not found and self.exclude_leaks:
                raise no_audit(train, self.root)
            if line:
                action = "left out of the test" if self.exclude_leaks else "kept"
                hint = "" if self.exclude_leaks else " (data.exclude_leaks=true leaves them out)"
                log.info("%s; %s%s", line, action, hint)
        return self._leaks

    def _layout(self, name: str) -> tuple[str | None, str | None]:
        layout = self.layouts.get(name) or {}
        return layout.get("image_dir"), layout.get("mask_dir")

    def _without_leaks(self, name: str, samples: list[Sample]) -> list[Sample]:
        """``samples`` without the photos the audit found in the training set when
        ``exclude_leaks`` (named in a warning, listed in :attr:`excluded_leaks`)."""
        if not self.exclude_leaks:
            return samples
        leaked = set(self._leak_audit().get(name, []))
        kept, self.excluded_leaks[name] = drop_leaked(samples, leaked, name, self.train_set)
        return kept

    def setup(self, stage: str | None = None) -> None:
        if self.demo:  # also when prepare_data was not called (e.g. used outside a Trainer)
            make_demo_data(self.root)
        self._leak_audit()  # its one line at set-up, and exclude_leaks' check before any work
        ev = eval_transform(self.recipe, self.eval_size)
        fit = stage in ("fit", "validate", None) and self.train_data is None
        test = stage in ("test", None) and not self.test_data
        self._check(
            ([self.train_set, *self.val_sets] if fit else []) + (self.test_sets if test else [])
        )
        if fit:
            train = self._checked[self.train_set]
            if self.val_sets:
                self.val_data = [SODDataset(self._checked[n], ev, False) for n in self.val_sets]
            elif self.val_fraction > 0:
                rng = np.random.default_rng(self.split_seed)
                order = rng.permutation(len(train))
                n_val = max(1, round(len(train) * self.val_fraction))
                held = sorted(order[:n_val].tolist())
                keep = sorted(order[n_val:].tolist())
                self.val_data = [SODDataset([train[i] for i in held], ev, False)]
                train = [train[i] for i in keep]
            tr = train_transform(self.recipe, self.image_size)
            self.train_data = SODDataset(train, tr, True)
        if test:
            self.test_data = [
                SODDataset(self._without_leaks(n, self._checked[n]), ev, False)
                for n in self.test_sets
            ]

    # -- loaders --------------------------------------------------------------------------
    def _loader_kwargs(self) -> dict[str, Any]:
        pin = torch.cuda.is_available() if self.pin_memory is None else self.pin_memory
        kw: dict[str, Any] = {"num_workers": self.num_workers, "pin_memory": pin}
        if self.num_workers > 0:
            kw["persistent_workers"] = self.persistent_workers
        return kw

    def _batches_done_this_epoch(self) -> int:
        """Batches of the current epoch a restored checkpoint had trained (0 at an epoch's
        start): Lightning restarts a mid-epoch checkpoint's epoch loop at that batch index but
        iterates the loader from its start, so the sampler skips what was trained."""
        epoch_loop = self.trainer.fit_loop.epoch_loop
        if not epoch_loop.restarting:  # a fresh run, or resumed at an epoch's end
            return 0
        # ``processed``: also counts the batch of a checkpoint saved in on_train_batch_end
        return int(epoch_loop.batch_progress.current.processed)

    def train_dataloader(self) -> DataLoader:
        assert self.train_data is not None, "call setup('fit') first"
        # order and augmentation seeds depend only on (seed, epoch): resuming is exact;
        # the run's seed (``seed=``, set by seed_everything), else one from Python's random
        env_seed = os.environ.get("PL_GLOBAL_SEED")
        seed = int(env_seed) if env_seed is not None else random.getrandbits(31)
        sampler = SeededEpochSampler(self.train_data, seed=seed)
        if self.trainer is not None:  # Lightning sets it per epoch; a resumed run starts here
            sampler.set_epoch(self.trainer.current_epoch)
            done = self._batches_done_this_epoch()
            if done:  # restored mid-epoch: continue with the batches not trained yet
                sampler.resume_at(self.trainer.current_epoch, done * self.batch_size)
        # the authors keep the smaller last batch (drop_last=False in both recipes)
        return ResumableLoader(
            self.train_data,
            batch_size=self.batch_size,
            sampler=sampler,
            drop_last=False,
            collate_fn=TrainCollate(self.multiscale or [self.image_size]),
            **self._loader_kwargs(),
        )

    def _eval_loaders(self, sets: list[SODDataset]) -> list[DataLoader]:
        loaders = []
        for d in sets:
            sampler = None
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                sampler = UnpaddedDistributedSampler(d)  # each image scored exactly once
            loaders.append(
                DataLoader(
                    d,
                    batch_size=self.eval_batch_size,
                    shuffle=False,
                    sampler=sampler,
                    collate_fn=eval_collate,
                    **self._loader_kwargs(),
                )
            )
        return loaders

    def val_dataloader(self) -> list[DataLoader]:
        return self._eval_loaders(self.val_data)

    def test_dataloader(self) -> list[DataLoader]:
        return self._eval_loaders(self.test_data)
