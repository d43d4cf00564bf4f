#!/usr/bin/env bash
# Download, here (PyPI reachable), the wheels that `benchmarks/gpu_install.py` installs offline
# on the lent GPU machine (`benchmarks/gpu_check.py` calls it where `import hydra` fails there;
# `python3 benchmarks/gpu_install.py` runs it alone): the project's needs that its image lacks
# (KINDS.md, "Python packages already there": torch, lightning, torchmetrics, numpy, scipy,
# opencv, PyYAML, packaging... are there; Hydra, OmegaConf, albumentations and pydantic are not).
#
#   bash benchmarks/gpu_wheels.sh            # -> .gpu_wheels/ (git-ignored, ~8 MB)
#   PYVER=3.11 DEST=/tmp/w bash benchmarks/gpu_wheels.sh   # other Python (dry runs here)
#
# Not carried, because the check never imports them: wandb (the csv logger is used; Lightning
# imports wandb only for WandbLogger), hydra-optuna-sweeper/optuna (only hparams_search=optuna).
# The project itself is not a wheel either: gpu_check.py puts the repository on PYTHONPATH.
# Versions: those the project venv resolved and passes its tests with. One version of each.
set -euo pipefail

cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
PYVER=${PYVER:-3.12}
DEST=${DEST:-.gpu_wheels}

# name==version, wheels for CPython $PYVER manylinux x86_64 (or pure py3-none-any)
BINARY=(
  hydra-core==1.3.8
  omegaconf==2.3.1
  albumentations==2.0.8
  albucore==0.0.24
  pydantic==2.14.4
  pydantic-core==2.50.5
  annotated-types==0.8.0
  typing-inspection==0.4.5
  # pydantic 2.14 needs typing-extensions>=4.16; gpu_install.py installs it only where the
  # machine's own copy is older (a wheel of an installed package is used only when needed)
  typing-extensions==4.16.0
  stringzilla==5.3.2
  simsimd==6.5.16
)
# sdist only on PyPI: built into a (pure-Python) wheel here
SDIST=(antlr4-python3-runtime==4.9.3)

rm -rf "$DEST"
mkdir -p "$DEST"
"$PY" -m pip download -q --no-deps --only-binary=:all: \
  --python-version "$PYVER" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 \
  -d "$DEST" "${BINARY[@]}"
"$PY" -m pip wheel -q --no-deps -w "$DEST" "${SDIST[@]}"

# one version of each distribution, nothing else
dupes=$(ls "$DEST" | sed -E 's/-[0-9].*//; s/[-_.]+/_/g' | tr 'A-Z' 'a-z' | sort | uniq -d)
if [ -n "$dupes" ]; then
  echo "two versions of: $dupes" >&2
  exit 1
fi
count=$(ls "$DEST"/*.whl | wc -l)
expected=$(( ${#BINARY[@]} + ${#SDIST[@]} ))
if [ "$count" -ne "$expected" ]; then
  echo "expected $expected wheels in $DEST, found $count" >&2
  exit 1
fi
ls -1 "$DEST"
du -sh "$DEST"
