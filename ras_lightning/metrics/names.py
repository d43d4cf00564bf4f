"""The metric names every output uses (logged keys, metrics.json, tables)."""

METRIC_NAMES = (
    "mae",
    "s_measure",
    "weighted_f",
    "max_f",
    "mean_f",
    "adaptive_f",
    "max_e",
    "mean_e",
    "adaptive_e",
    "max_f_dataset_pr",
)
