#!/usr/bin/env bash
# The fragment-view studies behind docs/results/c-cpp/fragments-{random,similarity}/: the GCN baseline, the
# transformer with hierarchical pooling, the same with PepLand's fragment view, and fusion
# (fragments + Morgan counts in the head), 3 random splits x 1 seed, at exactly the size and
# budget of run.sh so the rows compare with docs/results/c-cpp/{random,similarity}/. From the repository
# root after scripts/setup.sh.
#   SPLIT=random (default) or SPLIT=similarity
#   STAGE=all (default), train (create + launch only) or report (report only)
#   TAG=full VARIANTS=full EXTRA="--set pretrain_epochs=3" PER_GPU=1: the `full` preset (fragment
#   view + contrastive pretraining) on the same splits, reported under docs/results/c-cpp/full-$SPLIT/
set -euo pipefail
split=${SPLIT:-random}
stage=${STAGE:-all}
tag=${TAG:-fragments}
variants=${VARIANTS:-gcn,hierpool,fragments,fusion}
study=c-cpp-$tag-$split
export PEPLAND_HPO_HOME=${PEPLAND_HPO_HOME:-storage/c-cpp}
hpo=${HPO:-.venv/bin/pepland-hpo}

if [ "$stage" != report ]; then
  $hpo create ablation --data ../shared/datasets/pepland/c-CPP.txt --name "$study" --split "$split" \
    --split-repeats 3 --variants "$variants" --seeds 0 --epochs 10 \
    --set hidden_dim=32 --set num_layers=2 --set num_heads=4 --set batch_size=32 \
    --set lr=1e-3 --set patience=4 ${EXTRA:-}
  $hpo launch --gpus cpu --per-gpu "${PER_GPU:-2}" --study "$study"
  $hpo status "$study"
fi
if [ "$stage" != train ]; then
  $hpo report "$study" --out "docs/results/c-cpp/$tag-$split"
fi
