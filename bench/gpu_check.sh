#!/usr/bin/env bash
# The GPU check: one script, about 8 minutes on one H200 with no network (see ../shared/TOOLCHAIN.md).
#
#   FTBOOK_DATA=../shared/data .venv/bin/python bench/gpu_prep.py     # here, once: writes .gpu/ (git-ignored)
#   bench/gpu_check.sh --dry-run                                       # here: every step, tiny, on the CPU
#   bench/gpu_check.sh                                                 # there, the device tool carrying .gpu
#
# Steps, each with its own time limit so that the whole stays within 8 minutes:
#   1. the full CoNLL-2003 fine-tune (`ftbook train`, defaults: 3 epochs, bf16 on the GPU), its time and test F1;
#   2. bench/train_throughput.py, ftbook against Trainer (length-grouped), batch 256 in bf16 on the whole training
#      set, with model FLOP utilisation against the measured bf16 matmul peak;
#   3. bench/sft_throughput.py, ftbook's LoRA fine-tune of a decoder of SmolLM2-135M's shape (random weights: the
#      real ones are over the 64 MiB a call carries; the speed is the same), padded and padding-free, tokens/s and memory.
# Results (JSON and logs) go to $OUT (the device tool brings that folder back), else to a new folder that is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
DRY=0
case "${1:-}" in
  --dry-run) DRY=1 ;;
  "") ;;
  *) echo "usage: bench/gpu_check.sh [--dry-run]" >&2; exit 2 ;;
esac
G=${FTBOOK_GPU_DIR:-.gpu}
PY=${PYTHON:-python3}
if [ ! -f "$G/MANIFEST.json" ]; then
  echo "gpu_check: no $G/MANIFEST.json: prepare the carried folder first: FTBOOK_DATA=../shared/data .venv/bin/python bench/gpu_prep.py" >&2
  exit 2
fi
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
start=$(date +%s)
note() { echo "[gpu_check $(( $(date +%s) - start ))s] $*"; }

note "installing the carried wheels (no network)"
"$PY" -m pip install -q --no-index --no-deps --no-compile --disable-pip-version-check --target "$WORK/site" "$G"/wheels/*.whl
export PYTHONPATH="$PWD:$WORK/site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export FTBOOK_DATA="$G/data" FTBOOK_CACHE="$WORK/cache" FTBOOK_ENCODER="$WORK/cache/encoder"
"$PY" bench/gpu_prep.py --unpack "$G" --to "$FTBOOK_CACHE"
"$PY" - <<'EOF' | tee "$OUT/environment.txt"
import torch, transformers
from ftbook.core import environment
print(environment())
if torch.cuda.is_available(): print(torch.cuda.get_device_name(), f'{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB')
EOF

C="$G/data/conll2003"
if [ "$DRY" = 1 ]; then      # a few sentences of each file (cut at a blank line), so each step only starts and ends
  mkdir -p "$WORK/conll2003"
  for f in train valid test; do awk 'NR > 400 && /^$/ {exit} {print}' "$C/$f.txt" > "$WORK/conll2003/$f.txt"; done
  C="$WORK/conll2003"
  TRAIN=(--max-train-samples 48 --epochs 1 --max-steps 3 --device cpu)
  TP=(--n-train 48 --n-valid 24 --bs 16 --device cpu --precision fp32)
  SFT=(--steps 2 --n-train 16 --n-valid 8 --bs 4)
  LIMITS=(300 300 300)
else
  TRAIN=()
  TP=(--n-train 14041 --n-valid 3250 --bs 256 --device cuda --precision bf16)
  SFT=(--steps 60 --n-train 2000 --n-valid 100 --bs 32)
  LIMITS=(240 130 110)
fi

# each step may fail on its own (another transformers there, say) without costing the others their time: the
# summary says what is missing, and the script's status is the number of failed steps
failed=0
step() {   # step N LOG COMMAND...: run COMMAND, its output into LOG; a failure is counted and said, not fatal
  local n=$1 log=$2; shift 2
  "$@" > "$log" 2>&1 || { local rc=$?; failed=$((failed + 1)); note "   step $n failed (exit status $rc)"; }
}

note "1. CoNLL-2003 fine-tune: ftbook train ${TRAIN[*]:-(defaults)}"
t=$(date +%s)
step 1 "$OUT/conll_train.log" timeout "${LIMITS[0]}" "$PY" -m ftbook train --train "$C/train.txt" --valid "$C/valid.txt" \
  --test "$C/test.txt" --output "$WORK/conll" --no-progress ${TRAIN[@]+"${TRAIN[@]}"}
tail -25 "$OUT/conll_train.log"
if [ -f "$WORK/conll/metrics.json" ]; then cp "$WORK/conll/metrics.json" "$OUT/conll_metrics.json"; fi
note "   done in $(( $(date +%s) - t )) s"

note "2. training throughput: bench/train_throughput.py ${TP[*]}"
step 2 "$OUT/train_throughput.log" timeout "${LIMITS[1]}" "$PY" bench/train_throughput.py --runs ftbook,trainer_grouped "${TP[@]}" \
  --json "$OUT/train_throughput.json"
grep -v -i warn "$OUT/train_throughput.log" | tail -8

note "3. decoder LoRA fine-tune: bench/sft_throughput.py --runs ftbook,ftbook-padding-free ${SFT[*]}"
step 3 "$OUT/sft_throughput.log" timeout "${LIMITS[2]}" "$PY" bench/sft_throughput.py --runs ftbook,ftbook-padding-free "${SFT[@]}" \
  --json "$OUT/sft_throughput.json"
grep -v -i warn "$OUT/sft_throughput.log" | tail -4

"$PY" - "$OUT" <<'EOF' | tee "$OUT/summary.md"
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
read = lambda f: json.loads((out/f).read_text()) if (out/f).is_file() else None
m, tp, sft = read('conll_metrics.json'), read('train_throughput.json'), read('sft_throughput.json')
env = next((r['environment'] for r in (tp, sft) if r), None)
if env: print(f"GPU check: {env.get('gpu', env['device'])}, torch {env['torch']}, transformers {env['transformers']}\n")
if m: print(f"- CoNLL-2003 fine-tune (ftbook train defaults): {m['train_seconds']:.1f} s of training, {m['steps']} steps, "
            f"test F1 {m['test']['f1']:.4f} (validation {m['valid']['f1']:.4f})")
else: print("- CoNLL-2003 fine-tune: no result (see conll_train.log)")
for name, r in (tp or {}).get('runs', {}).items():
    print(f"- train_throughput {name}: {r['tokens_per_s']:,.0f} real tokens/s, model FLOP utilisation {r['peak_share']:.1%} "
          f"of the measured {tp['precision']} peak ({tp['peak_flops'] / 1e12:,.1f} TFLOP/s), batch {tp['bs']}, valid F1 {r['f1']:.4f}")
if not tp: print("- train_throughput: no result (see train_throughput.log)")
if sft:
    for name, r in sft['results'].items():
        print(f"- decoder LoRA fine-tune, {name} (SmolLM2-135M shape, random weights): {r['tokens_per_s']:,.0f} real tokens/s over "
              f"{r['steps']} steps, {r['memory_bytes'] / 2**20:,.0f} MiB added, held-out loss {r['final_loss']:.4f}")
else: print("- decoder LoRA fine-tune: no result (see sft_throughput.log)")
EOF
if [ "$failed" = 0 ]; then note "all steps done; results in $OUT"; else note "$failed step(s) failed; results in $OUT"; fi
exit "$failed"
