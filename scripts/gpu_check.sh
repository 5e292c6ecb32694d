#!/usr/bin/env bash
# Everything that needs a GPU, in one call (under 8 minutes on one GPU):
#
#   1. the `gpu`-marked tests;
#   2. a worker pinned to GPU 0 (`worker --gpu 0`) runs a 2-trial `full` study on CUDA
#      with bf16, then another with fp16 + GradScaler, both at temperature 0.05;
#   3. a real CUDA OOM in a trial's child (`--set fault=oom@0`, PEPLAND_HPO_ALLOW_FAULTS=1):
#      that trial fails with reason `oom`, the worker goes on and completes the next one;
#   4. data-parallel pretraining under torchrun on NCCL (1 process), checkpointing;
#   5. training throughput (graphs/s) of gcn, graphormer, hierpool and full at the
#      default size (hidden 256, 6 layers, 8 heads) with bf16 (scripts/bench/train_throughput.py);
#   6. the same figure for graphormer with the dense vs the flex attention bias
#      (attention_backend; required), then, in the time left, with torch.compile of the
#      layers (`compile`) for graphormer (dense, flex) and full, on the first 1,024
#      molecules; rows print as they finish, combinations not reached are named.
#
# Usage, from the repository root, in an environment where pepland-hpo and a CUDA torch
# are installed:
#
#   bash scripts/gpu_check.sh                   # PYTHON=... picks the interpreter (default: .venv/bin/python, else python)
#   PEPLAND_DATA=/path/to/pepland bash scripts/gpu_check.sh   # PepLand's data folder (c-CPP.txt); default ../shared/datasets/pepland
#   GPU_CHECK_DRY_RUN=1 bash scripts/gpu_check.sh             # the same steps on CPU at toy size (checks the plumbing only)
#
# Without c-CPP.txt the studies and the throughput use builtin:amp-uniprot (peptides of
# similar length, shipped with modlamp). Exit status: 0 only if every check passed; each
# failed check prints the end of its log. With $OUT set, the summary and all logs are
# written there (gpu_check_summary.txt, gpu_check_logs.txt).
set -uo pipefail

SELF="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$SELF")/.."
if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
DRY="${GPU_CHECK_DRY_RUN:-0}"
WORK="${GPU_CHECK_WORK:-$(mktemp -d -t gpu-check-XXXXXX)}"
export GPU_CHECK_WORK="$WORK"  # the steps (this script again, under `timeout`) share it
export PEPLAND_HPO_HOME="$WORK/storage" PEPLAND_HPO_CACHE="${PEPLAND_HPO_CACHE:-$WORK/cache}"
DB="sqlite:///$WORK/storage/gpu_check.db"
SUMMARY="$WORK/summary.txt"
LOGS="$WORK/logs.txt"
FAILED=()
BUDGET_S="${GPU_CHECK_BUDGET_S:-460}"  # the whole check stays under 8 minutes
DEADLINE=${GPU_CHECK_DEADLINE:-$(( $(date +%s) + BUDGET_S ))}
export GPU_CHECK_DEADLINE="$DEADLINE"  # steps that fit their work to the time left read it
PEPLAND_DATA="${PEPLAND_DATA:-../shared/datasets/pepland}"

cli() { "$PYTHON" -m pepland_hpo.cli "$@"; }
note() { echo "$*" | tee -a "$SUMMARY"; }

# check NAME TIMEOUT_S COMMAND...: runs it, logs it, records PASS/FAIL with its seconds
check() {
  local name="$1" limit="$2"
  shift 2
  local log="$WORK/$name.log" start rc left
  start=$(date +%s)
  left=$(( DEADLINE - start ))
  if [ "$left" -lt 15 ]; then
    note "FAIL $name (not run: the ${BUDGET_S} s budget is spent)"
    FAILED+=("$name")
    return
  fi
  [ "$DRY" = 1 ] && limit=$(( limit * 5 ))  # toy sizes, but a slow shared CPU
  [ "$limit" -gt "$left" ] && limit="$left"
  timeout --kill-after=10 "$limit" bash "$SELF" --step "$@" >"$log" 2>&1
  rc=$?
  { echo "===== $name (rc $rc)"; cat "$log"; } >>"$LOGS"
  if [ "$rc" -eq 0 ]; then
    note "PASS $name ($(( $(date +%s) - start )) s)"
  else
    [ "$rc" -eq 124 ] && rc="timeout after ${limit} s"
    note "FAIL $name ($rc, $(( $(date +%s) - start )) s)"
    tail -n 25 "$log" | sed 's/^/    /'
    FAILED+=("$name")
  fi
}

if [ "$DRY" = 1 ]; then
  GPU=cpu DEVICE=cpu ROWS=60 SIZE=(--set hidden_dim=16 --set num_layers=1 --set num_heads=2)
  EPOCHS=(--epochs 1 --set pretrain_epochs=1) BENCH=(--hidden 16 --layers 1 --heads 2 --limit 64 --device cpu)
  FLEX_BENCH=(--hidden 16 --layers 1 --heads 2 --limit 32 --device cpu)
else
  GPU=0 DEVICE=cuda ROWS=600 SIZE=()
  EPOCHS=(--epochs 3 --set pretrain_epochs=2) BENCH=(--limit 0 --batch-size 256 --device cuda --precision bf16)
  FLEX_BENCH=(--limit 1024 --batch-size 256 --device cuda --precision bf16)
fi

if [ -f "$PEPLAND_DATA/c-CPP.txt" ]; then
  DATA="$WORK/cpp.txt" BENCH_DATA="$PEPLAND_DATA/c-CPP.txt"
else
  DATA="builtin:amp" BENCH_DATA="builtin:amp-uniprot"
fi

# ---------------------------------------------------------------- 0. the machine
env_check() {
  "$PYTHON" - "$DRY" <<'EOF'
import sys, torch
dry = sys.argv[1] == "1"
print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
if not dry:
    assert torch.cuda.is_available(), "no CUDA device visible to torch"
    p = torch.cuda.get_device_properties(0)
    print("gpu", p.name, round(p.total_memory / 2**30, 1), "GiB", "bf16", torch.cuda.is_bf16_supported())
    assert torch.cuda.is_bf16_supported(), "bf16 unsupported on this GPU"
import torch_geometric, rdkit, optuna  # noqa: F401
print("imports ok")
EOF
}

# ---------------------------------------------------------------- 1. gpu tests
gpu_tests() {
  "$PYTHON" -m pytest -m gpu -q -p no:cacheprovider -rs tests
  local rc=$?
  [ "$rc" -eq 5 ] && { echo "no gpu-marked test collected"; return 1; }
  return "$rc"
}
# ---------------------------------------------------------------- 2./3. studies on a pinned worker
# assert_study NAME EXPECT: EXPECT is "complete" (both trials complete, finite, on cuda, no
# skipped step) or "oom" (seed 0 failed with reason oom, seed 1 complete)
assert_study() {
  "$PYTHON" - "$DB" "$1" "$2" "$DEVICE" <<'EOF'
import math, sys, optuna
url, name, expect, device = sys.argv[1:]
trials = optuna.load_study(study_name=name, storage=url).get_trials()
assert len(trials) == 2, f"{name}: {len(trials)} trials"
for t in sorted(trials, key=lambda t: t.user_attrs.get("seed", -1)):
    a = t.user_attrs
    print(name, "seed", a.get("seed"), t.state.name, t.value, "device", a.get("device"), "gpu", a.get("gpu"),
          "non_finite", a.get("non_finite_steps"), a.get("pretrain_non_finite_steps"), "reason", a.get("failure_reason"),
          "s/epoch", a.get("seconds_per_epoch"))
    if expect == "oom" and a.get("seed") == 0:
        assert t.state.name == "FAIL" and a.get("failure_reason") == "oom", "the injected OOM was not recorded as oom"
        continue
    assert t.state.name == "COMPLETE" and math.isfinite(t.value), f"seed {a.get('seed')} did not complete"
    assert str(a.get("device", "")).startswith(device), f"ran on {a.get('device')}, not {device}"
    if device == "cuda":
        assert str(a.get("gpu")) == "0", f"worker not pinned to GPU 0: gpu={a.get('gpu')}"
    assert a.get("non_finite_steps", 0) == 0, "skipped supervised steps"
    if expect != "oom":
        assert a.get("pretrain_non_finite_steps", 0) == 0, "skipped pretraining steps"
        assert len(a.get("pretrain_loss", [])) >= 1 and all(map(math.isfinite, a["pretrain_loss"]))
EOF
}

study() {  # study NAME EXPECT --set ...
  local name="$1" expect="$2"
  shift 2
  cli create ablation --data "$DATA" --variants full --seeds 0,1 "${EPOCHS[@]}" "${SIZE[@]}" \
      --set temperature=0.05 --set pretrain_batch_size=64 --name "$name" --storage "$DB" "$@" || return 1
  cli worker --gpu "$GPU" --study "$name" --n-trials 2 --storage "$DB" || return 1
  assert_study "$name" "$expect"
}
# ---------------------------------------------------------------- 4. DDP under torchrun
ddp_torchrun() {
  local out
  out=$("$PYTHON" -m torch.distributed.run --standalone --nproc-per-node 1 -m pepland_hpo.cli pretrain \
      --data "$DATA" --device "$DEVICE" "${SIZE[@]}" --set pretrain_epochs=2 --set pretrain_batch_size=64 \
      --set precision=bf16 --set temperature=0.05 --checkpoint-every 5 2>&1) || { echo "$out"; return 1; }
  echo "$out"
  grep -q "pretrained by 1 process" <<<"$out"
}
# ---------------------------------------------------------------- 5. throughput
throughput() {
  "$PYTHON" scripts/bench/train_throughput.py --data "$BENCH_DATA" --variants gcn,graphormer,hierpool,full \
      "${BENCH[@]}" | tee "$WORK/throughput.jsonl"
  for v in gcn graphormer hierpool full; do
    grep -q "\"${v}_graphs_per_second\"" "$WORK/throughput.jsonl" || { echo "no figure for $v"; return 1; }
  done
}
# ---------------------------------------------------------------- 6. flex bias and torch.compile
flex_compile() {
  local out="$WORK/flex_compile.jsonl" left m missing=()
  : >"$out"
  # required: graphormer with the dense and the flex bias (layers eager, flex kernel compiled)
  "$PYTHON" scripts/bench/train_throughput.py --data "$BENCH_DATA" --variants graphormer \
      --backends dense,flex "${FLEX_BENCH[@]}" | tee -a "$out" || return 1
  # best effort in the time left: torch.compile of the layers (full: FAVOR+, no softmax
  # attention for a backend to change). Each row prints as it finishes.
  left=$(( GPU_CHECK_DEADLINE - $(date +%s) - 10 ))
  [ "$DRY" = 1 ] && left=600
  if [ "$left" -gt 20 ]; then
    timeout --kill-after=5 "$left" "$PYTHON" scripts/bench/train_throughput.py --data "$BENCH_DATA" \
        --variants graphormer --backends dense,flex --compile on "${FLEX_BENCH[@]}" | tee -a "$out"
    left=$(( GPU_CHECK_DEADLINE - $(date +%s) - 10 ))
    [ "$DRY" = 1 ] && left=600
    [ "$left" -gt 20 ] && timeout --kill-after=5 "$left" "$PYTHON" scripts/bench/train_throughput.py \
        --data "$BENCH_DATA" --variants full --compile off,on "${FLEX_BENCH[@]}" | tee -a "$out"
  fi
  for m in graphormer graphormer_flex; do
    grep -q "\"${m}_graphs_per_second\"" "$out" || { echo "no figure for $m"; return 1; }
  done
  for m in graphormer_compiled graphormer_flex_compiled full full_compiled; do
    grep -q "\"${m}_graphs_per_second\"" "$out" || missing+=("$m")
  done
  [ "${#missing[@]}" -eq 0 ] || echo "not reached within the budget (compilation): ${missing[*]}"
  return 0
}
# ---------------------------------------------------------------- main
if [ "${1:-}" = "--step" ]; then  # one step, run by `check` under a time limit
  shift
  "$@"
  exit $?
fi
: >"$SUMMARY"
: >"$LOGS"
[ "$DRY" = 1 ] && note "DRY RUN on CPU at toy size: plumbing only, no GPU result"
check environment 60 env_check
if [[ " ${FAILED[*]:-} " == *" environment "* ]]; then
  note "GPU CHECK FAILED: environment (nothing else was run)"
  [ -n "${OUT:-}" ] && cp "$SUMMARY" "$OUT/gpu_check_summary.txt" && cp "$LOGS" "$OUT/gpu_check_logs.txt"
  exit 1
fi
if [ "$DATA" = "$WORK/cpp.txt" ]; then
  head -n "$ROWS" "$PEPLAND_DATA/c-CPP.txt" >"$DATA"
  tail -n "$(( ROWS / 3 ))" "$PEPLAND_DATA/c-CPP.txt" >>"$DATA"  # both classes
  note "data: c-CPP.txt ($(wc -l <"$DATA") rows for the studies, all of it for throughput)"
else
  note "data: $PEPLAND_DATA/c-CPP.txt not found; builtin:amp for the studies, builtin:amp-uniprot for throughput"
fi
check featurize 120 cli data featurize "$DATA"
check gpu-tests 120 gpu_tests
check study-bf16 120 study gc-bf16 complete --set precision=bf16
check study-fp16-scaler 120 study gc-fp16 complete --set precision=fp16
export PEPLAND_HPO_ALLOW_FAULTS=1  # fault injection is refused without it
check worker-survives-cuda-oom 90 study gc-oom oom --set fault=oom@0 --set precision=bf16
unset PEPLAND_HPO_ALLOW_FAULTS
check ddp-torchrun 90 ddp_torchrun
check throughput 150 throughput
check flex-compile 400 flex_compile  # the global deadline governs; compile rows are best effort
for table in throughput flex_compile; do
  [ -s "$WORK/$table.jsonl" ] || continue
  if [ "$table" = throughput ]; then
    note "throughput (graphs/s, one training epoch; goal >= 10,000 for the default model with bf16):"
  else
    note "attention backend and torch.compile (graphs/s, first 1,024 molecules, compilation in the warm-up):"
  fi
  "$PYTHON" - "$WORK/$table.jsonl" <<'EOF' | tee -a "$SUMMARY"
import json, sys
for line in open(sys.argv[1]):
    try:
        row = json.loads(line)
    except ValueError:
        continue
    if str(row.get("metric", "")).endswith("_graphs_per_second"):
        print(f"  {row['metric']}: {row['value']:.0f}  ({ {k: v for k, v in row.items() if k not in ('metric', 'value')} })")
EOF
done

# ---------------------------------------------------------------- verdict
if [ "${#FAILED[@]}" -gt 0 ]; then
  note "GPU CHECK FAILED: ${FAILED[*]}"
  status=1
else
  note "GPU CHECK PASSED"
  status=0
fi
if [ -n "${OUT:-}" ]; then
  cp "$SUMMARY" "$OUT/gpu_check_summary.txt"
  cp "$LOGS" "$OUT/gpu_check_logs.txt"
fi
exit "$status"
