#!/usr/bin/env bash
# Issue 10's CoNLL-2000 table in one go: the forward and backward LD-Net language models on WikiText-2, the
# chunker without and with their features, LD-Net layer selection at one or more budgets, the test F1 of
# each, and the contextual features' FLOPs per token and tokens/s before and after pruning. Run from the
# repository root:
#
#   bash benchmarks/ldnet_chunking.sh [RUN_DIR]          # default runs/ldnet_chunking
#
# Each run trains where the configs put it: the GPU when there is one, else the CPU (on 2 CPU cores the
# defaults take several hours: give fewer epochs). Settings, from the environment:
#   LM_EPOCHS (8, as configs/ldnet/wikitext2_ldnet_*.jsonnet)   TAGGER_EPOCHS (40, with the config's patience)
#   PRUNE_BUDGETS ("3 4": one `lmlab prune` each, configs/ldnet/conll2000_prune.jsonnet with that budget)
#   PRUNE_EPOCHS, PRUNE_BATCHES (default: that config's 8 rounds of 100 batches)
#   WIKITEXT2_DIR, CONLL2000_DIR (default: the configs', ../shared/data/...)   SKIP_LMS=1 reuses RUN_DIR's LMs
# Runs that do not depend on each other go side by side (both LMs and the no-LM tagger; the prunings), each
# logging to RUN_DIR/NAME.log. The table goes to stdout and RUN_DIR/table.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/ldnet_chunking}
LM_EPOCHS=${LM_EPOCHS:-8} TAGGER_EPOCHS=${TAGGER_EPOCHS:-40}
PRUNE_BUDGETS=${PRUNE_BUDGETS:-3 4}
mkdir -p "$RUN"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
CUDA=$(python -c "import torch; print(0 if torch.cuda.is_available() else -1)")
CONLL_TEST=${CONLL2000_DIR:-../shared/data/conll2000}/test.txt
QUIET='"trainer.progress_bar": false'

lmlab() { python -m lmlab "$@"; }
stamp() { echo "$(date +%T) $*"; }

run() {  # run NAME COMMAND...: log to RUN/NAME.log, one line when it ends
  local name=$1; shift
  stamp "start $name"
  if "$@" >"$RUN/$name.log" 2>&1; then stamp "done $name"; else stamp "FAILED $name (exit $?): $(tail -1 "$RUN/$name.log")"; return 1; fi
}

lm() { run "lm_$1" lmlab train "configs/ldnet/wikitext2_ldnet_$1.jsonnet" -s "$RUN/lm_$1" --force \
         -o "{\"trainer.num_epochs\": $LM_EPOCHS, $QUIET}"; }
tagger() { run "tagger_$1" lmlab train "$2" -s "$RUN/tagger_$1" --force -o "{\"trainer.num_epochs\": $TAGGER_EPOCHS, $QUIET}"; }

pids=()
if [ -z "${SKIP_LMS:-}" ]; then lm forward & pids+=($!); lm backward & pids+=($!); fi
tagger nolm configs/ldnet/conll2000_tagger.jsonnet & nolm=$!
for pid in "${pids[@]}"; do wait "$pid" || exit 1; done
export LDNET_FORWARD_LM=$RUN/lm_forward/model.tar.gz LDNET_BACKWARD_LM=$RUN/lm_backward/model.tar.gz
tagger ldnet configs/ldnet/conll2000_tagger_ldnet.jsonnet || exit 1

prune() {  # configs/ldnet/conll2000_prune.jsonnet with budget $1 (and PRUNE_EPOCHS x PRUNE_BATCHES, when set)
  local overrides="(import \"configs/ldnet/conll2000_prune.jsonnet\") + {model+: {layer_selection+: {budget: $1}},
    trainer+: {progress_bar: false}}"
  [ -n "${PRUNE_EPOCHS:-}" ] && overrides+=" + {trainer+: {num_epochs: $PRUNE_EPOCHS}}"
  [ -n "${PRUNE_BATCHES:-}" ] && overrides+=" + {data_loader+: {batches_per_epoch: $PRUNE_BATCHES}}"
  run "pruned_$1" lmlab prune "$RUN/tagger_ldnet/model.tar.gz" -s "$RUN/pruned_$1" --force -o "$overrides" &&
    run "pruned_$1_test" lmlab evaluate "$RUN/pruned_$1/model.tar.gz" "$CONLL_TEST" --cuda-device "$CUDA" \
      --output-file "$RUN/pruned_$1/test_metrics.json"
}
pids=()
for budget in $PRUNE_BUDGETS; do prune "$budget" & pids+=($!); done
for pid in "${pids[@]}"; do wait "$pid"; done
wait "$nolm"

archives=("$RUN/tagger_ldnet/model.tar.gz")
for budget in $PRUNE_BUDGETS; do [ -f "$RUN/pruned_$budget/model.tar.gz" ] && archives+=("$RUN/pruned_$budget/model.tar.gz"); done
run features_cpu python benchmarks/contextual_features.py "${archives[@]}" --data "$CONLL_TEST"
[ "$CUDA" -ge 0 ] && run features_gpu python benchmarks/contextual_features.py "${archives[@]}" --data "$CONLL_TEST" \
  --cuda-device "$CUDA"

python - "$RUN" $PRUNE_BUDGETS <<'EOF' | tee "$RUN/table.txt"
import json, os, sys
run, budgets = sys.argv[1], sys.argv[2:]
def metrics(path):
    return json.load(open(path)) if os.path.isfile(path) else {}
for side in ("forward", "backward"):
    m = metrics(f"{run}/lm_{side}/metrics.json")
    print(f"LM {side:<8} epochs {m.get('epoch', -1) + 1}: validation perplexity {m.get('best_validation_perplexity', float('nan')):.1f}, "
          f"test {m.get('test_perplexity', float('nan')):.1f}")
rows = [("no LM features", metrics(f"{run}/tagger_nolm/metrics.json")),
        ("LD-Net LM features", metrics(f"{run}/tagger_ldnet/metrics.json"))]
for budget in budgets:
    m = metrics(f"{run}/pruned_{budget}/metrics.json")
    m.update({"test_" + k: v for k, v in metrics(f"{run}/pruned_{budget}/test_metrics.json").items()})
    rows.append((f"pruned, budget {budget}", m))
print(f"{'CoNLL-2000 chunking':<24} {'epochs':>6} {'dev F1':>7} {'test F1':>8}  kept layers")
for name, m in rows:
    dev = m.get("best_validation_f1-measure-overall", float("nan")) * 100
    test = m.get("test_f1-measure-overall", float("nan")) * 100
    print(f"{name:<24} {m.get('epoch', -1) + 1:>6} {dev:>7.2f} {test:>8.2f}  {m.get('kept_layers', '')}")
EOF
cat "$RUN/features_cpu.log" "$RUN/features_gpu.log" 2>/dev/null | tee -a "$RUN/table.txt"
