#!/usr/bin/env bash
# One pepland-hpo worker per allocated GPU, all on one PostgreSQL-backed study.
#
#   export PEPLAND_HPO_STORAGE='postgresql+psycopg://USER@dbhost:5432/pepland'   # no password in the URL
#   # the password: a line `dbhost:5432:pepland:USER:PASSWORD` in ~/.pgpass (chmod 600) or PGPASSFILE
#   sbatch --array=0-7 --gpus-per-task=1 scripts/slurm_workers.sh STUDY_NAME
#
# Each array task (or each task of a multi-GPU allocation) starts one worker per
# GPU Slurm gave it. The storage URL comes from the environment (sbatch exports
# it by default), never from the command line, so `squeue`/`ps` never show the
# password. SQLite is refused here: several machines need a database server.
# A worker stopped by Slurm (time limit, preemption: SIGTERM) hands its trial
# back to the queue; a node that dies leaves a trial whose heartbeat stops and
# which another worker retries after the grace period.
#SBATCH --job-name=pepland-hpo
#SBATCH --gpus-per-task=1
#SBATCH --cpus-per-task=4
#SBATCH --time=24:00:00
#SBATCH --signal=TERM@120
#SBATCH --output=storage/logs/slurm-%A_%a.out
set -euo pipefail

STUDY="${1:-}"
: "${PEPLAND_HPO_STORAGE:?set PEPLAND_HPO_STORAGE to a postgresql+psycopg:// URL}"
case "$PEPLAND_HPO_STORAGE" in
  postgresql*|postgres://*) ;;
  *) echo "error: PEPLAND_HPO_STORAGE must be a PostgreSQL URL for Slurm workers" >&2; exit 2 ;;
esac
PEPLAND_HPO="${PEPLAND_HPO:-pepland-hpo}"   # or: .venv/bin/pepland-hpo

# GPUs Slurm assigned to this task (indices as the node numbers them).
GPUS="${SLURM_STEP_GPUS:-${SLURM_JOB_GPUS:-${CUDA_VISIBLE_DEVICES:-}}}"
unset CUDA_VISIBLE_DEVICES   # each worker pins its own GPU before touching CUDA
export OMP_NUM_THREADS="${SLURM_CPUS_PER_TASK:-4}"
mkdir -p storage/logs

study_args=()
[ -n "$STUDY" ] && study_args=(--study "$STUDY")

pids=()
stop() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; }
trap stop TERM INT

if [ -z "$GPUS" ]; then
  "$PEPLAND_HPO" worker --gpu cpu "${study_args[@]}" &
  pids+=($!)
else
  IFS=',' read -ra gpu_list <<< "$GPUS"
  for g in "${gpu_list[@]}"; do
    PEPLAND_HPO_WORKER_NAME="$(hostname -s)-gpu${g}-${SLURM_ARRAY_TASK_ID:-0}" \
      "$PEPLAND_HPO" worker --gpu "$g" "${study_args[@]}" &
    pids+=($!)
  done
fi

rc=0
for p in "${pids[@]}"; do
  # `wait` returns early when the trap fires; wait again for the real exit.
  while kill -0 "$p" 2>/dev/null; do wait "$p" || true; done
  wait "$p" 2>/dev/null || rc=$?
done
exit "$rc"
