#!/usr/bin/env bash
# Install pepland-hpo with its test tools into ./.venv (or into the virtualenv
# that is already active). Safe to run again: it only adds what is missing.
#
# torch: a machine that already has torch keeps it (a GPU server's CUDA build
# survives). Where there is none, the CPU build is installed first, pinned so
# that pip never pulls a multi-GB CUDA wheel as a side effect; set TORCH_SPEC
# to choose another build (e.g. TORCH_SPEC="torch==2.11.0").
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${VIRTUAL_ENV:-}" ]; then
  py=python
else
  [ -x .venv/bin/python ] || "${PYTHON:-python3}" -m venv .venv
  py=.venv/bin/python
fi

if ! "$py" -c "import torch" >/dev/null 2>&1; then
  "$py" -m pip install --quiet --disable-pip-version-check "${TORCH_SPEC:-torch==2.13.0}"
fi
"$py" -m pip install --quiet --disable-pip-version-check -e ".[dev]"
"$py" -c "import torch, torch_geometric, rdkit, optuna; print('pepland-hpo ready: torch', torch.__version__, '| optuna', optuna.__version__)"
