#!/usr/bin/env bash
# LD-Net's CoNLL-2000 table over seeds: the forward and backward LD-Net language models on WikiText-2 (once), then
# for every seed the chunker without LM features, with them, and pruned by `lmlab prune` at each budget; prints
# mean +- std (sample std over the seeds) of test F1 per row, with the contextual features' FLOPs per token and
# tokens/s. Run from the repository root:
#
#   bash benchmarks/ldnet_chunking.sh [RUN_DIR]          # default runs/ldnet_chunking
#
# Each run trains where the configs put it: the GPU when there is one, else the CPU (on 2 CPU cores the defaults
# take many hours: give fewer epochs or seeds). Settings, from the environment:
#   SEEDS ("1 2 3": random, numpy and torch seeds of each tagger and pruning; the LMs are trained once)
#   LM_EPOCHS (8, as configs/ldnet/wikitext2_ldnet_*.jsonnet)   TAGGER_EPOCHS (40, with the config's patience)
#   PRUNE_BUDGETS ("3 6": one `lmlab prune` each with configs/ldnet/conll2000_prune.jsonnet, LD-Net's recipe; 3 of
#                  the 12 layers is the >= 5x-fewer-FLOPs row, LD-Net's chunking setting)   PRUNE_EPOCHS (the config's)
#   WIKITEXT2_DIR, CONLL2000_DIR (default: the configs', ../shared/data/...)   SKIP_LMS=1 reuses RUN_DIR's LMs
# Runs that do not depend on each other go side by side (both LMs and the first no-LM tagger; a seed's prunings),
# each logging to RUN_DIR/NAME.log. The table goes to stdout and RUN_DIR/table.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
RUN=${1:-runs/ldnet_chunking}
SEEDS=${SEEDS:-1 2 3} LM_EPOCHS=${LM_EPOCHS:-8} TAGGER_EPOCHS=${TAGGER_EPOCHS:-40}
PRUNE_BUDGETS=${PRUNE_BUDGETS:-3 6}
mkdir -p "$RUN"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
CUDA=$(python3 -c "import torch; print(0 if torch.cuda.is_available() else -1)")
CONLL_TEST=${CONLL2000_DIR:-../shared/data/conll2000}/test.txt
QUIET='"trainer.progress_bar": false'

lmlab() { python3 -m lmlab "$@"; }
stamp() { echo "$(date +%T) $*"; }
seeds() { echo "\"random_seed\": $1, \"numpy_seed\": $1, \"pytorch_seed\": $1"; }

run() {  # run NAME COMMAND...: log to RUN/NAME.log, one line when it ends
  local name=$1; shift
  stamp "start $name"
  if "$@" >"$RUN/$name.log" 2>&1; then stamp "done $name"; else stamp "FAILED $name (exit $?): $(tail -1 "$RUN/$name.log")"; return 1; fi
}

lm() { run "lm_$1" lmlab train "configs/ldnet/wikitext2_ldnet_$1.jsonnet" -s "$RUN/lm_$1" --force \
         -o "{\"trainer.num_epochs\": $LM_EPOCHS, $QUIET}"; }
tagger() {  # tagger NAME CONFIG SEED
  run "tagger_$1_$3" lmlab train "$2" -s "$RUN/tagger_$1_$3" --force \
    -o "{\"trainer.num_epochs\": $TAGGER_EPOCHS, $QUIET, $(seeds "$3")}"
}
prune() {  # prune BUDGET SEED: configs/ldnet/conll2000_prune.jsonnet with that budget (and PRUNE_EPOCHS when set)
  local overrides="(import \"configs/ldnet/conll2000_prune.jsonnet\") + {model+: {layer_selection+: {budget: $1}},
    trainer+: {progress_bar: false}, random_seed: $2, numpy_seed: $2, pytorch_seed: $2}"
  [ -n "${PRUNE_EPOCHS:-}" ] && overrides+=" + {trainer+: {num_epochs: $PRUNE_EPOCHS}}"
  run "pruned_$1_$2" lmlab prune "$RUN/tagger_ldnet_$2/model.tar.gz" -s "$RUN/pruned_$1_$2" --force -o "$overrides"
}

set -- $SEEDS
first=$1
pids=()
if [ -z "${SKIP_LMS:-}" ]; then lm forward & pids+=($!); lm backward & pids+=($!); fi
tagger nolm configs/ldnet/conll2000_tagger.jsonnet "$first" & nolm=$!
for pid in "${pids[@]}"; do wait "$pid" || exit 1; done
export LDNET_FORWARD_LM=$RUN/lm_forward/model.tar.gz LDNET_BACKWARD_LM=$RUN/lm_backward/model.tar.gz
for seed in $SEEDS; do
  [ "$seed" != "$first" ] && tagger nolm configs/ldnet/conll2000_tagger.jsonnet "$seed"
  tagger ldnet configs/ldnet/conll2000_tagger_ldnet.jsonnet "$seed" || continue
  pids=()
  for budget in $PRUNE_BUDGETS; do prune "$budget" "$seed" & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid"; done
done
wait "$nolm"

archives=("$RUN/tagger_ldnet_$first/model.tar.gz")
for budget in $PRUNE_BUDGETS; do
  [ -f "$RUN/pruned_${budget}_$first/model.tar.gz" ] && archives+=("$RUN/pruned_${budget}_$first/model.tar.gz")
done
run features python3 benchmarks/contextual_features.py "${archives[@]}" --data "$CONLL_TEST" --cuda-device "$CUDA" \
  --json "$RUN/features.json"

python3 - "$RUN" "$first" "$PRUNE_BUDGETS" $SEEDS <<'EOF' | tee "$RUN/table.txt"
import json, os, statistics, sys
run, first, budgets, seeds = sys.argv[1], sys.argv[2], sys.argv[3].split(), sys.argv[4:]
def metrics(path):
    return json.load(open(path)) if os.path.isfile(path) else {}
for side in ("forward", "backward"):
    m = metrics(f"{run}/lm_{side}/metrics.json")
    print(f"LM {side:<8} epochs {m.get('epoch', -1) + 1}: validation perplexity "
          f"{m.get('best_validation_perplexity', float('nan')):.1f}, test {m.get('test_perplexity', float('nan')):.1f}")
features = metrics(f"{run}/features.json")
rows = [("no LM features", "tagger_nolm", None), ("LD-Net LM features", "tagger_ldnet", f"{run}/tagger_ldnet_{first}")]
rows += [(f"pruned, budget {b}", f"pruned_{b}", f"{run}/pruned_{b}_{first}") for b in budgets]
reference = features.get(f"{run}/tagger_ldnet_{first}/model.tar.gz", {}).get("flops_per_token")
def spread(values):
    if not values:
        return "n/a"
    mean = statistics.mean(values)
    return f"{mean:.2f} +- {statistics.stdev(values):.2f}" if len(values) > 1 else f"{mean:.2f}"
print(f"{'CoNLL-2000 chunking':<22} {'n':>2} {'test F1':>15} {'dev F1':>15} {'LM FLOPs/token':>15} {'fewer':>6} "
      f"{'tokens/s':>9}  kept layers (seed {first})")
for name, prefix, archive_dir in rows:
    per_seed = [metrics(f"{run}/{prefix}_{seed}/metrics.json") for seed in seeds]
    test = [100 * m["test_f1-measure-overall"] for m in per_seed if "test_f1-measure-overall" in m]
    dev_key = "pruned_validation_f1-measure-overall" if prefix.startswith("pruned") else "best_validation_f1-measure-overall"
    dev = [100 * m[dev_key] for m in per_seed if dev_key in m]
    cost = features.get(f"{archive_dir}/model.tar.gz", {}) if archive_dir else {"flops_per_token": 0}
    flops = cost.get("flops_per_token")
    fewer = f"{reference / flops:.1f}x" if flops and reference else ""
    speed = f"{cost['tokens_per_second']:.0f}" if "tokens_per_second" in cost else ""
    print(f"{name:<22} {len(test):>2} {spread(test):>15} {spread(dev):>15} {flops if flops is not None else '':>15} "
          f"{fewer:>6} {speed:>9}  {cost.get('kept_layers', '')}")
EOF
