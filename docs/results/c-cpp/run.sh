#!/usr/bin/env bash
# The c-CPP ablation behind docs/results/c-cpp/: all five variants x 3 splits x 1 seed
# on PepLand's cell-penetrating-peptide set (2,324 sequences), sized for a 2-core
# CPU session. Run from the repository root after scripts/setup.sh.
#   SPLIT=random (default) or SPLIT=similarity
#   STAGE=all (default), train (create + launch only) or report (report only)
set -euo pipefail
split=${SPLIT:-random}
stage=${STAGE:-all}
study=c-cpp-$split
export PEPLAND_HPO_HOME=${PEPLAND_HPO_HOME:-storage/c-cpp}
hpo=${HPO:-.venv/bin/pepland-hpo}

if [ "$stage" != report ]; then
  $hpo create ablation --data ../shared/datasets/pepland/c-CPP.txt --name "$study" --split "$split" \
    --split-repeats 3 --variants gcn,graphormer,performer,hierpool,full --seeds 0 --epochs 10 \
    --set hidden_dim=32 --set num_layers=2 --set num_heads=4 --set batch_size=32 \
    --set lr=1e-3 --set patience=4 --set pretrain_epochs=3
  $hpo launch --gpus cpu --per-gpu 2 --study "$study"
  $hpo status "$study"
fi
if [ "$stage" != train ]; then
  $hpo report "$study" --out "docs/results/c-cpp/$split"
fi
