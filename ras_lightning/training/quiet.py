"""Lightning's messages that a user of ``train`` cannot act on, silenced exactly where they
are raised (around the Trainer's construction, fit and test), each with why; every other
warning and log line still reaches the console and ``train.log``."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

#: Lightning's logger of ``rank_zero_info`` lines (the Trainer's construction logs there)
_RANK_ZERO_LOGGER = "lightning.pytorch.utilities.rank_zero"


class _DropTips(logging.Filter):
    """Drops Lightning's advertising "💡 Tip: ... try installing litlogger" line: a sales
    hint about another package, not about this run."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip")


@contextmanager
def quiet_trainer(on_gpu: bool) -> Iterator[None]:
    """The block (the Trainer's construction, ``fit`` or ``test``) without Lightning's notes
    that do not apply to ``train``:

    - the litlogger tip (:class:`_DropTips`);
    - "the number of training batches is smaller than the logging interval": train/loss is
      still logged (progress bar, ``metrics.json``); short debugging runs hit it by design,
      and ``trainer.log_every_n_steps`` stays the switch;
    - "does not have many workers which may be a bottleneck" on the CPU, where zero loader
      workers are the measured choice (``conf/data/_base.yaml``); on a GPU it still shows;
    - the FutureWarning that ``isinstance(treespec, LeafSpec)`` is deprecated: raised inside
      Lightning's own ``_pytree`` by newer PyTorch, for Lightning's maintainers to act on.
    """
    logger, tips = logging.getLogger(_RANK_ZERO_LOGGER), _DropTips()
    logger.addFilter(tips)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=r"The number of training batches \(\d+\) is smaller than"
            )
            if not on_gpu:
                warnings.filterwarnings("ignore", message=r"The '\w+' does not have many workers")
            warnings.filterwarnings(
                "ignore",
                message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                category=FutureWarning,
            )
            yield
    finally:
        logger.removeFilter(tips)
