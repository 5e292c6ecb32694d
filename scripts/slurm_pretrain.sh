#!/usr/bin/env bash
# Data-parallel contrastive pretraining on a Slurm allocation, one job of all its ranks.
#
#   GPU nodes (one torchrun per node, one process per GPU, NCCL):
#     sbatch --nodes=2 --ntasks-per-node=1 --gpus-per-node=8 --cpus-per-task=32 \
#         scripts/slurm_pretrain.sh corpus.csv --set precision=bf16 --set pretrain_batch_size=1024 \
#         --checkpoint-every 500
#   CPU nodes (one process per Slurm task, gloo):
#     sbatch --ntasks=4 --cpus-per-task=8 scripts/slurm_pretrain.sh corpus.csv --checkpoint-every 500
#
# GPUs are asked for on the command line, not below: a `#SBATCH --gpus-per-node` line
# would make sbatch refuse the script where there are none. Arguments after the corpus go
# to `pepland-hpo pretrain` (--variant, --set ...). Needs a filesystem every node sees for
# ./storage (or PEPLAND_HPO_HOME / PEPLAND_HPO_CACHE): the featurised corpus, the checkpoint
# and the artifact live there. The job always runs with --resume, so a requeued or
# resubmitted job continues from its last checkpoint (same number of processes) instead of
# starting over. A rank that dies or hangs makes the others fail within the collective
# timeout (PEPLAND_HPO_DDP_TIMEOUT, default 600 s) and srun --kill-on-bad-exit ends the rest
# of the job. The log is pretrain-JOB.out in the folder sbatch ran in.
#SBATCH --job-name=pepland-pretrain
#SBATCH --time=48:00:00
#SBATCH --signal=TERM@120
#SBATCH --output=pretrain-%j.out
set -euo pipefail

DATA="${1:?usage: sbatch scripts/slurm_pretrain.sh CORPUS [pretrain options]}"
shift
PYTHON="${PYTHON:-python}"   # or: .venv/bin/python
HEAD="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"
# One port per job (several jobs may share a head node); torchrun and gloo both use it.
PORT="${PEPLAND_HPO_MASTER_PORT:-$(( 20000 + ${SLURM_JOB_ID:-0} % 20000 ))}"
GPUS_PER_NODE="${SLURM_GPUS_ON_NODE:-0}"
case "$GPUS_PER_NODE" in ''|*[!0-9]*) GPUS_PER_NODE=0 ;; esac
CPUS="${SLURM_CPUS_PER_TASK:-1}"

# Featurise once, here, before any rank starts: the ranks then only map the cache.
"$PYTHON" -m pepland_hpo.cli data featurize "$DATA"

if [ "$GPUS_PER_NODE" -gt 0 ]; then
  export OMP_NUM_THREADS=$(( CPUS / GPUS_PER_NODE > 0 ? CPUS / GPUS_PER_NODE : 1 ))
  # one torchrun per node, whatever --ntasks says; it starts the per-GPU processes
  srun --kill-on-bad-exit=1 --nodes "$SLURM_NNODES" --ntasks "$SLURM_NNODES" --ntasks-per-node 1 \
    "$PYTHON" -m torch.distributed.run \
    --nnodes "$SLURM_NNODES" --nproc-per-node "$GPUS_PER_NODE" \
    --rdzv-backend c10d --rdzv-endpoint "$HEAD:$PORT" --rdzv-id "$SLURM_JOB_ID" \
    -m pepland_hpo.cli pretrain --data "$DATA" --device cuda --resume "$@"
else
  # No GPU: every Slurm task is one rank. Its torchrun-style variables come from srun's
  # per-task ones (set inside the task, hence the single quotes).
  export OMP_NUM_THREADS="$CPUS" MASTER_ADDR="$HEAD" MASTER_PORT="$PORT"
  srun --kill-on-bad-exit=1 bash -c \
    'export RANK="$SLURM_PROCID" LOCAL_RANK="$SLURM_LOCALID" WORLD_SIZE="$SLURM_NTASKS"; exec "$@"' rank \
    "$PYTHON" -m pepland_hpo.cli pretrain --data "$DATA" --device cpu --resume "$@"
fi
