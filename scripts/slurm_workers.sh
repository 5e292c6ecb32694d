#!/usr/bin/env bash
# One pepland-hpo worker per allocated GPU (one CPU worker where Slurm gives none),
# all on one PostgreSQL-backed study.
#
#   export PEPLAND_HPO_STORAGE='postgresql+psycopg://USER@dbhost:5432/pepland'   # no password in the URL
#   # the password: a line `dbhost:5432:pepland:USER:PASSWORD` in ~/.pgpass (chmod 600) or PGPASSFILE
#   sbatch --array=0-7 --gpus-per-task=1 scripts/slurm_workers.sh STUDY_NAME   # GPU nodes
#   sbatch --array=0-7 --cpus-per-task=2 scripts/slurm_workers.sh STUDY_NAME   # CPU nodes
#
# GPUs are asked for on the command line, not below: a `#SBATCH --gpus-per-task`
# line would make sbatch refuse the script on a cluster (or partition) without GPUs.
# Each array task starts one worker per GPU Slurm gave it, or one CPU worker
# when it gave none. The storage URL comes from the environment (sbatch exports
# it by default), never from the command line, so `squeue`/`ps` never show the
# password. SQLite is refused here: several machines need a database server.
# A worker stopped by Slurm (scancel, time limit, preemption: SIGTERM) hands its
# trial back to the queue, where another worker resumes it from its last epoch;
# a node that dies leaves a trial whose heartbeat stops and which another worker
# retries after the grace period. The log is slurm-JOB_TASK.out in the folder
# sbatch ran in (Slurm does not create folders for --output).
#SBATCH --job-name=pepland-hpo
#SBATCH --cpus-per-task=4
#SBATCH --time=24:00:00
#SBATCH --signal=TERM@120
set -euo pipefail

STUDY="${1:-}"
: "${PEPLAND_HPO_STORAGE:?set PEPLAND_HPO_STORAGE to a postgresql+psycopg:// URL}"
case "$PEPLAND_HPO_STORAGE" in
  postgresql*|postgres://*) ;;
  *) echo "error: PEPLAND_HPO_STORAGE must be a PostgreSQL URL for Slurm workers" >&2; exit 2 ;;
esac
PEPLAND_HPO="${PEPLAND_HPO:-pepland-hpo}"   # or: .venv/bin/pepland-hpo

# GPUs Slurm assigned to this task (indices as the node numbers them); none on a CPU node.
GPUS="${SLURM_STEP_GPUS:-${SLURM_JOB_GPUS:-${CUDA_VISIBLE_DEVICES:-}}}"
case "$GPUS" in NoDevFiles|none) GPUS="" ;; esac
unset CUDA_VISIBLE_DEVICES   # each worker pins its own GPU before touching CUDA
CPUS="${SLURM_CPUS_PER_TASK:-4}"
TASK="${SLURM_ARRAY_TASK_ID:-${SLURM_PROCID:-0}}"
HOST="$(hostname -s)"

study_args=()
[ -n "$STUDY" ] && study_args=(--study "$STUDY")

pids=()
# scancel and the time limit signal every process of the job step: the workers get
# SIGTERM themselves; forwarding it once more from here covers `kill` of this shell.
stop() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; }
trap stop TERM INT

if [ -z "$GPUS" ]; then
  export OMP_NUM_THREADS="$CPUS"
  PEPLAND_HPO_WORKER_NAME="${PEPLAND_HPO_WORKER_NAME:-$HOST-cpu-$TASK}" \
    "$PEPLAND_HPO" worker --gpu cpu --threads "$CPUS" "${study_args[@]}" &
  pids+=($!)
else
  IFS=',' read -ra gpu_list <<< "$GPUS"
  per_worker=$(( CPUS / ${#gpu_list[@]} > 0 ? CPUS / ${#gpu_list[@]} : 1 ))
  export OMP_NUM_THREADS="$per_worker"
  for g in "${gpu_list[@]}"; do
    PEPLAND_HPO_WORKER_NAME="$HOST-gpu$g-$TASK" \
      "$PEPLAND_HPO" worker --gpu "$g" --threads "$per_worker" "${study_args[@]}" &
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
