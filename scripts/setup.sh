#!/usr/bin/env bash
# Install pepland-hpo with its test tools into ./.venv (or into the virtualenv
# that is already active). Safe to run again: it only adds what is missing.
#
# torch: a machine that already has torch keeps it (a GPU server's CUDA build
# survives). Where there is none, the CPU build is installed first, pinned so
# that pip never pulls a multi-GB CUDA wheel as a side effect; set TORCH_SPEC
# to choose another build (e.g. TORCH_SPEC="torch==2.11.0").
#
# --with-slurm also installs Slurm (Debian/Ubuntu's slurm-wlm and munge, through
# apt-get, as root) when its daemons are missing: tests/hpo/test_slurm.py starts a
# private one-node cluster with them.
set -euo pipefail
cd "$(dirname "$0")/.."

with_slurm=0
for arg in "$@"; do
  case "$arg" in
    --with-slurm) with_slurm=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "error: unknown option $arg (known: --with-slurm)" >&2; exit 2 ;;
  esac
done
if [ "$with_slurm" = 1 ] && ! PATH="$PATH:/usr/sbin" command -v slurmctld >/dev/null; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "error: --with-slurm installs Debian's slurm-wlm with apt-get as root; install Slurm yourself here" >&2
    exit 2
  fi
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi

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
