#!/usr/bin/env bash
# The study behind docs/results/homology/ccpp/README.md: c-CPP on homology partitions at sequence
# identity 0.5 / 0.7 / 0.9 (study.yaml), the GCN baseline and the full preset at hidden 32 x 2 layers,
# 1 seed, 8 epochs, plus both fingerprint references (computed by the report). From the repository
# root after scripts/setup.sh.
#   STAGE=all (default), train (pretrain + create + worker) or report (report only)
# `full` fine-tunes an encoder pretrained once (1 contrastive epoch) on PepLand's unlabelled
# pretraining set (pretrained/train.csv, no c-CPP labels), shared by the three partitions.
set -euo pipefail
stage=${STAGE:-all}
study=ccpp-homology
here=docs/results/homology/ccpp
export PEPLAND_HPO_HOME=${PEPLAND_HPO_HOME:-storage/homology-ccpp}
hpo=${HPO:-.venv/bin/pepland-hpo}
size=(--set hidden_dim=32 --set num_layers=2 --set num_heads=4)

if [ "$stage" != report ]; then
  key=$($hpo pretrain --data ../shared/datasets/pepland/pretrained/train.csv --variant full --device cpu \
        "${size[@]}" --set pretrain_epochs=1 | sed -n 's/.*--set pretrained=\([0-9a-f]*\).*/\1/p' | tail -1)
  $hpo create ablation --spec "$here/study.yaml" --set "pretrained=$key"
  $hpo worker --gpu cpu --study "$study"
  $hpo status "$study"
fi
if [ "$stage" != train ]; then
  $hpo report "$study" --out "$here" --published "$here/published.csv"
fi
