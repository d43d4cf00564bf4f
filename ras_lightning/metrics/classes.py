"""The metrics as torchmetrics ``Metric``s: thin shells over the registry's kernels.

:class:`SODMetrics` computes every registered metric (or the families it is given) of one
dataset; :class:`MAE`, :class:`SMeasure`, :class:`WeightedFMeasure`, :class:`FMeasure` and
:class:`EMeasure` are one family each, as PySODMetrics' classes. ``update`` runs the NumPy
kernels of :mod:`ras_lightning.metrics.functional` on the CPU (the numbers ``score`` gives);
every state is a sum (per-image statistics, the image count) registered with
``add_state(..., dist_reduce_fx="sum")``, so DDP's reduction is exact and ``merge_state``
works. Only torchmetrics' public API is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
from torchmetrics import Metric

from ras_lightning.metrics import registry
from ras_lightning.metrics.functional import SODImage


def _as_uint8(x: torch.Tensor | np.ndarray, mask: bool) -> np.ndarray:
    """(B, H, W) uint8 from (B, [1,] H, W) or (H, W): uint8 as it is; bool masks as 0/255;
    floats in [0, 1] as ``round(x * 255)`` (an 8-bit map divided by 255 comes back exactly)."""
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.dtype == np.bool_:
        a = a.view(np.uint8) * np.uint8(255)
    elif a.dtype != np.uint8:
        a = np.clip(np.rint(a.astype(np.float64) * (255 if a.dtype.kind == "f" else 1)), 0, 255)
        a = a.astype(np.uint8)
    what = "mask" if mask else "map"
    if a.ndim < 2:
        raise ValueError(f"a (B, [1,] H, W) or (H, W) {what} expected, got shape {a.shape}")
    return a.reshape(-1, *a.shape[-2:])


class SODMetrics(Metric):
    """The default SOD metrics of one dataset (``families``: those families instead;
    ``metrics``: a selection, :func:`~ras_lightning.metrics.registry.select`'s argument: metric
    names or ``"all"``, computing only the families they need and giving only them).

    ``update(pred, gt)``: maps and masks of equal size, (B, [1,] H, W) or (H, W); a map is
    8-bit (uint8 0..255) or a float in [0, 1] (quantised to 8 bits, as a saved map), a mask is
    uint8 (foreground > 128), bool or a float in [0, 1]. ``compute()``: ``{metric name: value}``
    in the registry's order. ``keep_images``: also keep each image's name (``update``'s
    ``names``) and statistics in :attr:`images` (this process's only, not synced; for
    :mod:`ras_lightning.metrics.per_image`), until :meth:`take_images`.
    """

    full_state_update = False
    is_differentiable = False
    higher_is_better: bool | None = None

    def __init__(
        self,
        families: Sequence[str] | None = None,
        keep_images: bool = False,
        metrics: Sequence[str] | str | None = None,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)
        self.keep_images = keep_images
        self.images: list[tuple[str, dict]] = []
        self.selection = registry.select(metrics)
        if families is None:
            names = list(self.selection.families)
        else:
            names = list(families)
        unknown = [n for n in names if n not in registry.FAMILIES]
        if unknown:
            raise KeyError(f"unknown metric families {unknown}; known: {list(registry.FAMILIES)}")
        self._families = [registry.FAMILIES[n] for n in names]
        for family in self._families:
            for stat, shape in family.states.items():
                zero = torch.zeros(shape, dtype=torch.float64)
                self.add_state(f"sum_{stat}", zero, dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def update(
        self,
        pred: torch.Tensor | np.ndarray,
        gt: torch.Tensor | np.ndarray,
        names: Sequence[str] | None = None,
    ) -> None:
        if tuple(pred.shape) != tuple(gt.shape):
            raise ValueError(f"prediction {tuple(pred.shape)} and mask {tuple(gt.shape)} differ")
        maps, masks = _as_uint8(pred, mask=False), _as_uint8(gt, mask=True)
        sums: dict[str, float | np.ndarray] = {}
        for i, (p, g) in enumerate(zip(maps, masks, strict=True)):
            img = SODImage(p, g)  # prepared once, shared by every family's kernel
            stats = {k: v for family in self._families for k, v in family.stats(img).items()}
            for k, v in stats.items():
                sums[k] = sums[k] + v if k in sums else v
            if self.keep_images:
                self.images.append((names[i] if names else str(len(self.images)), stats))
        for k, v in sums.items():
            state = getattr(self, f"sum_{k}")
            state += torch.as_tensor(v, dtype=state.dtype).to(state.device)
        self.count += maps.shape[0]

    def take_images(self) -> list[tuple[str, dict]]:
        """The kept (name, statistics) of every image updated since the last call; cleared."""
        images, self.images = self.images, []
        return images

    def compute(self) -> dict[str, torch.Tensor]:
        n = max(int(self.count), 1)
        values: dict[str, float] = {}
        for family in self._families:
            mean = {s: (getattr(self, f"sum_{s}") / n).cpu().numpy() for s in family.states}
            values.update(family.compute(mean))
        return {
            k: torch.tensor(v, dtype=torch.float64, device=self.count.device)
            for k, v in registry.ordered(self.selection.keep(values)).items()
        }


class _Family(SODMetrics):
    """One family; ``compute()`` gives a tensor when the family has one metric."""

    family: ClassVar[str]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        # the direction is the registry's (a family's metrics all point the same way)
        ways = {m.higher_is_better for m in registry.FAMILIES[cls.family].metrics}
        cls.higher_is_better = ways.pop() if len(ways) == 1 else None

    def __init__(self, **kwargs: object) -> None:
        super().__init__(families=[self.family], **kwargs)

    def compute(self) -> torch.Tensor | dict[str, torch.Tensor]:  # type: ignore[override]
        out = super().compute()
        return next(iter(out.values())) if len(out) == 1 else out


class MAE(_Family):
    """Mean absolute error (PySODMetrics' ``MAE``)."""

    family = "mae"


class SMeasure(_Family):
    """S-measure, alpha = 0.5 (PySODMetrics' ``Smeasure``)."""

    family = "s_measure"


class WeightedFMeasure(_Family):
    """Weighted F-measure, beta^2 = 1 (PySODMetrics' ``WeightedFmeasure``)."""

    family = "weighted_f"


class FMeasure(_Family):
    """``max_f``, ``mean_f``, ``adaptive_f``, ``max_f_dataset_pr`` (beta^2 = 0.3; PySODMetrics'
    ``Fmeasure``)."""

    family = "f_measure"


class EMeasure(_Family):
    """``max_e``, ``mean_e``, ``adaptive_e`` (PySODMetrics' ``Emeasure``)."""

    family = "e_measure"
