"""``python -m ras_lightning.compare``: is b better than a, and how far do seeds spread?

``a=DIR b=DIR output_dir=OUT`` (each a ``score``/``eval`` output folder or a training run
folder; ``a_method=``/``b_method=`` pick one of several methods) -> ``comparison.json``
(``{dataset: {metric: {a, b, difference, low, high, p, p_holm, verdict}}}`` and ``_meta``),
``comparison.md`` and ``metrics.md``/``.csv``/``.tex``; ``a=GLOB b=GLOB``: two groups of runs.
``runs=GLOB`` -> ``seeds.json``, ``seeds.md``. The statistics: metrics/comparison.py, seeds.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from ras_lightning.metrics.comparison import check_ci, compare_groups, read_group, write_comparison
from ras_lightning.metrics.report_compare import write_compare_report
from ras_lightning.metrics.seeds import seed_spread, write_seeds
from ras_lightning.utils.entry import hydra_command
from ras_lightning.utils.errors import UserError, check_outside, require, require_counts
from ras_lightning.utils.files import probe_writable

log = logging.getLogger("ras_lightning.compare")

EXAMPLE = "python -m ras_lightning.compare a=out/baseline b=out/mine output_dir=out/compare"


def _value(cfg: DictConfig, key: str) -> object:
    value = cfg.get(key)
    return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value


def run(cfg: DictConfig) -> dict:
    """Compare a with b (or the runs' spread); return comparison.json's (seeds.json's) content."""
    runs, a, b = _value(cfg, "runs"), _value(cfg, "a"), _value(cfg, "b")
    if runs is not None and (a is not None or b is not None):
        raise UserError("runs= (the spread over seeds) or a= and b= (a comparison), not both")
    if runs is None:
        require(cfg, {"a": "the first folder", "b": "the folder compared with it"}, EXAMPLE)
    require(cfg, {"output_dir": "where to write the comparison"}, EXAMPLE)
    ci = check_ci(cfg.ci)
    require_counts(cfg, {"bootstrap": 1, "permutations": 1, "seed": 0})
    out = Path(cfg.output_dir).expanduser()
    how = {"ci": ci, "bootstrap": cfg.bootstrap, "seed": cfg.seed}
    if runs is not None:
        sources = read_group(runs, cfg.runs_method, "runs")
        check_outside(out, {f"runs ({s.folder})": s.folder for s in sources})
        probe_writable(out)
        result = seed_spread(sources, **how)
        write_seeds(result, out)
        print((out / "seeds.md").read_text(), end="")
        log.info("wrote %s", out / "seeds.json")
        return result
    group_a = read_group(a, cfg.a_method, "a")
    group_b = read_group(b, cfg.b_method, "b")
    folders = {f"a ({s.folder})": s.folder for s in group_a}
    folders |= {f"b ({s.folder})": s.folder for s in group_b}
    check_outside(out, folders)
    probe_writable(out)
    labels = (cfg.a_label, cfg.b_label)
    result = compare_groups(group_a, group_b, permutations=cfg.permutations, labels=labels, **how)
    write_comparison(result, out)
    if cfg.get("report", True):  # report.html: a and b image by image, sorted by b - a
        write_compare_report(out, group_a, group_b, result)
    print((out / "comparison.md").read_text(), end="")
    log.info("wrote %s", out / "comparison.json")
    return result


main = hydra_command("compare", run)

if __name__ == "__main__":
    main()
