#!/usr/bin/env bash
# The binding ablation behind docs/results/binding/: PepLand's c-binding pairs (protein seq1, peptide seq2,
# affinity in -log10 M), unseen-protein split (proteins at sequence identity >= 0.9 on one side), variants
# gcn and full with the composition protein encoder, plus the references (fingerprint / composition + HGB
# with the protein composition concatenated), sized for a shared 2-core CPU. Run from the repository root
# after scripts/setup.sh.
#   STAGE=all (default), train (create + launch only) or report (report only)
#   CONTROL=0 skips the control: the same study with the protein encoder off (gcn only)
set -euo pipefail
stage=${STAGE:-all}
export PEPLAND_HPO_HOME=${PEPLAND_HPO_HOME:-storage/binding}
hpo=${HPO:-.venv/bin/pepland-hpo}
data=../shared/datasets/pepland/c-binding.csv
common=(--data "$data" --target affinity --smiles-col seq2 --protein-col seq1 --split target
        --split-repeats 2 --seeds 0 --epochs 20
        --set hidden_dim=32 --set num_layers=2 --set num_heads=4 --set batch_size=32
        --set lr=1e-3 --set patience=5 --set pretrain_epochs=1)

if [ "$stage" != report ]; then
  nice -n 10 $hpo create ablation "${common[@]}" --name c-binding-target --variants gcn,full \
    --protein-encoder composition
  nice -n 10 $hpo launch --gpus cpu --per-gpu 2 --study c-binding-target
  $hpo status c-binding-target
  if [ "${CONTROL:-1}" = 1 ]; then
    nice -n 10 $hpo create ablation "${common[@]}" --name c-binding-target-control --variants gcn \
      --protein-encoder none
    nice -n 10 $hpo launch --gpus cpu --per-gpu 1 --study c-binding-target-control
  fi
fi
if [ "$stage" != train ]; then
  $hpo report c-binding-target --out docs/results/binding/target
  if [ "${CONTROL:-1}" = 1 ]; then
    $hpo report c-binding-target-control --out docs/results/binding/target-control
  fi
fi
