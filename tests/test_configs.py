"""Every config says each thing once and names only keys that exist.

Composed in this process (Hydra's ``compose``, struct mode, no training): every entry config;
for ``train`` every option of every group (nested ones too: ``model/backbone``); and every
preset (the ``@package _global_`` files of ``strategy``, ``experiment``, ``debug``,
``hparams_search``). A preset may only set keys that exist in the config it overrides (or
that its ``_target_`` takes); every ``_target_`` node's keys are arguments of its target; an
option built on its group's ``_base.yaml`` sets only keys that the base declares.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
from hydra.utils import get_object
from omegaconf import OmegaConf

from ras_lightning import CONFIG_DIR
from tests.conftest import compose_config

ENTRY_CONFIGS = ("train", "eval", "predict", "score", "export", "benchmark", "compare", "audit")
# ``@package _global_`` groups whose files define keys that the entry configs share
# (eval and predict take weights=, device= ... from inference/default.yaml): not presets
SHARED_DEFINITIONS = ("inference",)


def _entry_defaults(config: str) -> dict[str, Any]:
    """The group choices of an entry config's defaults list (``strategy: demo`` ...)."""
    entries = OmegaConf.to_container(OmegaConf.load(CONFIG_DIR / f"{config}.yaml")).get(
        "defaults", []
    )
    return {k: v for e in entries if isinstance(e, dict) for k, v in e.items()}


TRAIN_DEFAULTS = _entry_defaults("train")


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONFIG_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))


def _groups(root: Path = CONFIG_DIR, prefix: str = "") -> list[str]:
    """Every config group (a folder of yaml files), nested ones as ``model/backbone``;
    Hydra's own (``hydra/``) left out."""
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name != "__pycache__"):
        group = f"{prefix}{folder.name}"
        if group == "hydra":
            continue
        if any(folder.glob("*.yaml")):
            found.append(group)
        found += _groups(folder, f"{group}/")
    return found


def _body(path: Path) -> dict[str, Any]:
    data = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    assert isinstance(data, dict), path
    data.pop("defaults", None)
    return data


def _defaults(path: Path) -> list[Any]:
    return list(OmegaConf.to_container(OmegaConf.load(path)).get("defaults", []))


def _is_global(path: Path) -> bool:
    return "# @package _global_" in path.read_text().splitlines()[:3]


def _leaves(node: Any, prefix: str = "") -> list[str]:
    """The dotted keys a yaml body sets (lists and empty mappings are values)."""
    if not isinstance(node, dict) or not node:
        return [prefix[:-1]]
    return [k for key, value in node.items() for k in _leaves(value, f"{prefix}{key}.")]


_ABSENT = object()


def _lookup(tree: Any, key: str) -> Any:
    for part in key.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return _ABSENT
        tree = tree[part]
    return tree


def _parameters(target: str) -> set[str] | None:
    """The keyword arguments ``target`` takes; None when it takes any (``**kwargs``)."""
    params = inspect.signature(get_object(target)).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


def _target_keys_taken(node: Any, where: str = "") -> list[str]:
    """Keys of ``_target_`` nodes under ``node`` that their target does not take."""
    bad = []
    if isinstance(node, dict):
        if "_target_" in node:
            taken = _parameters(str(node["_target_"]))
            own = [k for k in node if not (k.startswith("_") and k.endswith("_"))]
            bad += [f"{where}{k}" for k in own if taken is not None and k not in taken]
        for key, value in node.items():
            if not (where == "" and key == "hydra"):  # Hydra checks its own node
                bad += _target_keys_taken(value, f"{where}{key}.")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            bad += _target_keys_taken(value, f"{where}{i}.")
    return bad


def _exists(tree: dict[str, Any], key: str) -> bool:
    """``key`` is in ``tree``, or is an argument the enclosing ``_target_`` node takes."""
    if _lookup(tree, key) is not _ABSENT:
        return True
    parent, _, last = key.rpartition(".")
    node = _lookup(tree, parent) if parent else tree
    if isinstance(node, dict) and "_target_" in node:
        taken = _parameters(str(node["_target_"]))
        return taken is None or last in taken
    return False


def _own_target_takes(body: dict[str, Any], key: str) -> bool:
    """``key`` lies in a node that ``body`` itself gives a ``_target_``, and that target
    takes it (or it is the ``_target_``)."""
    parent, _, last = key.rpartition(".")
    node = _lookup(body, parent) if parent else body
    if not isinstance(node, dict) or "_target_" not in node:
        return False
    taken = _parameters(str(node["_target_"]))
    return last == "_target_" or taken is None or last in taken


def _composed(config: str, *overrides: str, hydra: bool = False) -> dict[str, Any]:
    cfg = compose_config(*overrides, config=config, return_hydra_config=hydra)
    assert OmegaConf.is_struct(cfg)  # an override of a key that does not exist fails
    return OmegaConf.to_container(cfg, resolve=False)


def _switches(group: str) -> bool:
    """Whether the group's options choose other groups' options (``override /data: duts``)."""
    return any(
        isinstance(e, dict) and next(iter(e)).startswith("override ")
        for o in _options(group)
        for e in _defaults(CONFIG_DIR / group / f"{o}.yaml")
    )


def _compositions(config: str) -> list[list[str]]:
    """Overrides that together choose every option of every group ``config`` selects
    (nested groups such as ``model/backbone`` too): the options of groups that choose no
    other group's option side by side (one composition per option index, Hydra composes
    slowly), each option of a group that does (a preset: ``strategy``) on its own."""
    groups = [g for g in _groups() if g.split("/")[0] in _entry_defaults(config)]
    side_by_side = {g: _options(g) for g in groups if not _switches(g)}
    rounds = max((len(o) for o in side_by_side.values()), default=0)
    combined = [
        [f"{g}={o[i]}" for g, o in side_by_side.items() if i < len(o)] for i in range(rounds)
    ]
    alone = [[f"{g}={o}"] for g in groups if _switches(g) for o in _options(g)]
    defaults = {f"{g}={o}" for g, o in _entry_defaults(config).items()}
    return [[], *(c for c in combined + alone if not set(c) <= defaults)]


def test_the_config_walk_sees_every_group() -> None:
    groups = _groups()
    for group in ("data", "model", "model/backbone", "model/loss", "optimizer", "strategy"):
        assert group in groups
    assert "ras_v1" in _options("model") and "_base" not in _options("model")
    # every group serves an entry config
    used = {g for c in ENTRY_CONFIGS for g in _entry_defaults(c)}
    assert not [g for g in groups if g.split("/")[0] not in used]


@pytest.mark.parametrize("config", ENTRY_CONFIGS)
def test_every_option_of_every_group_composes_with_keys_its_targets_take(config: str) -> None:
    compositions = _compositions(config)
    chosen = {c for overrides in compositions for c in overrides}
    chosen |= {f"{g}={o}" for g, o in _entry_defaults(config).items()}  # by the defaults
    used = set(_entry_defaults(config))
    assert {f"{g}={o}" for g in _groups() if g.split("/")[0] in used for o in _options(g)} <= chosen
    bad = {}
    for overrides in compositions:
        wrong = _target_keys_taken(_composed(config, *overrides))
        if wrong:
            bad[" ".join(overrides) or "(defaults)"] = wrong
    assert not bad, f"keys that no target takes: {bad}"


def test_every_preset_sets_only_keys_that_exist() -> None:
    """A ``@package _global_`` preset's keys exist in the config it overrides: the train
    config with the preset's own ``override`` choices (and same-group includes)."""
    checked, bad = 0, {}
    for group in _groups():
        if group in SHARED_DEFINITIONS:
            continue
        for option in _options(group):
            path = CONFIG_DIR / group / f"{option}.yaml"
            if not _is_global(path):
                continue
            overrides, base_of_group = [], None
            for entry in _defaults(path):
                if isinstance(entry, dict):
                    [(key, value)] = entry.items()
                    overrides.append(f"{key.removeprefix('override ').lstrip('/')}={value}")
                elif entry != "_self_":
                    base_of_group = entry  # a same-group include (debug/limit -> default)
            if base_of_group:
                overrides.append(f"{group}={base_of_group}")
            elif TRAIN_DEFAULTS.get(group) is not None:
                overrides.append(f"~{group}")  # the config without this group's default
            body = _body(path)
            base = _composed("train", *overrides, hydra="hydra" in body)
            keys = _leaves(body)
            params = _lookup(body, "hydra.sweeper.params")
            if params is not _ABSENT:  # swept keys are keys of the train config
                keys = [k for k in keys if not k.startswith("hydra.sweeper.params.")]
                keys += ["hydra.sweeper.params", *params]
            # a node the preset adds with its own ``_target_`` (a Hydra callback): its
            # keys are checked against that target
            missing = [k for k in keys if not (_exists(base, k) or _own_target_takes(body, k))]
            if missing:
                bad[f"{group}/{option}"] = missing
            checked += 1
    assert checked >= 8, "no presets found"
    assert not bad, f"presets set keys that do not exist: {bad}"


def test_options_on_a_base_set_only_what_the_base_declares() -> None:
    """``model/ras_v1.yaml`` and friends (``defaults: [_base]``) override; they add nothing."""
    bases = sorted(CONFIG_DIR.rglob("_base.yaml"))
    assert bases
    for base in bases:
        declared = set(_leaves(_body(base)))
        users = [
            p for p in sorted(base.parent.glob("*.yaml")) if p != base and "_base" in _defaults(p)
        ]
        assert users, f"{base} is used by no option"
        for path in users:
            extra = set(_leaves(_body(path))) - declared
            assert not extra, f"{path.relative_to(CONFIG_DIR)} sets keys {extra} not in _base"
