#!/usr/bin/env bash
# Data-parallel contrastive pretraining on a Slurm allocation: one torchrun per node,
# one process per GPU, all nodes in one NCCL job.
#
#   sbatch --nodes=2 --gpus-per-node=8 scripts/slurm_pretrain.sh corpus.csv \
#       --set precision=bf16 --set pretrain_batch_size=1024 --checkpoint-every 500
#
# Arguments after the corpus go to `pepland-hpo pretrain` (--variant, --set ...).
# Needs a filesystem every node sees for ./storage (or PEPLAND_HPO_HOME / PEPLAND_HPO_CACHE):
# the featurised corpus, the checkpoint and the artifact live there. The job always runs
# with --resume, so a requeued or resubmitted job continues from its last checkpoint
# (same number of processes) instead of starting over. A rank that dies or hangs
# makes the others fail within the collective timeout (PEPLAND_HPO_DDP_TIMEOUT, default
# 600 s) and srun --kill-on-bad-exit ends the rest of the job.
#SBATCH --job-name=pepland-pretrain
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
#SBATCH --time=48:00:00
#SBATCH --signal=TERM@120
#SBATCH --output=storage/logs/pretrain-%j.out
set -euo pipefail

DATA="${1:?usage: sbatch scripts/slurm_pretrain.sh CORPUS [pretrain options]}"
shift
PYTHON="${PYTHON:-python}"   # or: .venv/bin/python
HEAD="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"
GPUS_PER_NODE="${SLURM_GPUS_ON_NODE:-$(nvidia-smi -L | wc -l)}"
export OMP_NUM_THREADS=$(( ${SLURM_CPUS_PER_TASK:-8} / GPUS_PER_NODE > 0 ? ${SLURM_CPUS_PER_TASK:-8} / GPUS_PER_NODE : 1 ))
mkdir -p storage/logs

# Featurise once, here, before any rank starts: the ranks then only map the cache.
"$PYTHON" -m pepland_hpo.cli data featurize "$DATA"

srun --kill-on-bad-exit=1 "$PYTHON" -m torch.distributed.run \
  --nnodes "$SLURM_NNODES" --nproc-per-node "$GPUS_PER_NODE" \
  --rdzv-backend c10d --rdzv-endpoint "$HEAD:29500" --rdzv-id "$SLURM_JOB_ID" \
  -m pepland_hpo.cli pretrain --data "$DATA" --device cuda --resume "$@"
