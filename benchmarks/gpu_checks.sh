#!/usr/bin/env bash
# The CUDA paths of training, in one go, on a machine with an NVIDIA GPU (issue 13: distributed training
# and mixed precision). Run from the repository root:
#
#   bash benchmarks/gpu_checks.sh [OUT_DIR]        # default: $OUT, else /tmp/lmlab_gpu_checks
#
# Needs a CUDA build of torch and lmlab's dependencies on that machine (lmlab itself is used from this
# checkout through PYTHONPATH, so nothing is installed). WikiText-2 is read from WIKITEXT2_DIR, else
# runs/wikitext-2, else ../shared/data/wikitext-2 (with the device tool: copy ../shared/data/wikitext-2 to
# the ignored runs/wikitext-2 and carry it); without it the throughput step is skipped.
#
# Leased GPU time is short: DEADLINE_S (default 480) is the whole script's budget in seconds; a step that would
# start after it is skipped (SKIP ... deadline) and each step gets at most the time left, so the script ends
# on time (an outer `timeout` would not: bash waits for the step in the foreground before it dies).
#
# Steps (each one line PASS / FAIL / SKIP, printed as it ends; logs in OUT_DIR):
#   env            torch, CUDA and GPU
#   tests          the GPU tests of the suite (resume on a GPU) and the distributed test file
#   fp32 / bf16 / fp16   train the tiny LM on cuda:0; fp16 checkpoints hold the GradScaler state
#   recover_fp16   SIGKILL after 7 steps, --recover, compare with an uninterrupted run (max |diff|)
#   nccl_1         torchrun --nproc-per-node 1: DDP over nccl, one process
#   nccl_all       --nproc <GPU count> when there are 2 or more GPUs
#   sparse_refused sparse embeddings under nccl: a config error that says what to change (exit 2)
#   throughput     WikiText-2 LSTM tokens/s: 1 process, 1 process under DDP (nccl), fp32 and bf16
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:-${OUT:-/tmp/lmlab_gpu_checks}}
mkdir -p "$OUT_DIR"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" LMLAB_FIXTURES="$PWD/fixtures" OMP_NUM_THREADS=${OMP_NUM_THREADS:-4}
CONFIG=fixtures/configs/lm_tiny.jsonnet
TINY='"trainer": {"cuda_device": 0, "progress_bar": false, "num_epochs": 3, "checkpoint_every_n_batches": 4,
       "num_checkpoints_to_keep": 20}, "data_loader": {"batch_size": 16, "shuffle": true}, "model.dropout": 0.0'
FAILED=0

DEADLINE=$((SECONDS + ${DEADLINE_S:-480}))
py() { timeout -k 5 $((DEADLINE - SECONDS > 1 ? DEADLINE - SECONDS : 1)) python "$@"; }  # no step outlives the deadline

step() {  # step NAME COMMAND...: log to OUT_DIR/NAME.log, print one line
  local name=$1; shift
  if [ "$SECONDS" -ge "$DEADLINE" ]; then echo "SKIP $name (deadline)"; FAILED=1; return; fi
  if "$@" >"$OUT_DIR/$name.log" 2>&1; then
    echo "PASS $name"
  else
    echo "FAIL $name (exit $?): $(grep -E 'lmlab:|Error|error' "$OUT_DIR/$name.log" | tail -2 | tr '\n' ' ')"
    FAILED=1
  fi
}

lmlab_train() { py -m lmlab train "$CONFIG" "$@"; }

step env py - <<'EOF'
import importlib, sys
import torch
missing = [m for m in ("_jsonnet", "h5py", "overrides", "tqdm", "tensorboard") if importlib.util.find_spec(m) is None]
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), GPUs: {torch.cuda.device_count()}",
      *(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())), sep="\n  ")
print("bf16 supported:", torch.cuda.is_available() and torch.cuda.is_bf16_supported())
sys.exit(f"missing packages: {missing}" if missing else 0 if torch.cuda.is_available() else "no CUDA GPU")
EOF
cat "$OUT_DIR/env.log"
if grep -q "missing packages\|no CUDA GPU" "$OUT_DIR/env.log"; then echo "stopping: the environment cannot run the checks"; exit 1; fi

step tests py -m pytest -q -p no:cacheprovider -x tests/training/test_gradient_descent_trainer.py \
  tests/training/test_distributed.py -k "gpu or distributed or bf16 or tensorboard or shard or contiguous"

rm -rf "$OUT_DIR"/runs && mkdir -p "$OUT_DIR/runs"
step fp32 lmlab_train -s "$OUT_DIR/runs/fp32" -o "{$TINY}"
step bf16 lmlab_train -s "$OUT_DIR/runs/bf16" -o "{$TINY, \"trainer.use_amp\": true}"
step fp16 lmlab_train -s "$OUT_DIR/runs/fp16" -o "{$TINY, \"trainer.use_amp\": true, \"trainer.amp_dtype\": \"float16\"}"
step fp16_scaler py -c "
import glob, torch
state = torch.load(sorted(glob.glob('$OUT_DIR/runs/fp16/checkpoints/*.th'))[-1], weights_only=True)
assert state['scaler'] and state['scaler']['scale'] > 0, state['scaler']
print('GradScaler state:', state['scaler'])"

# recovery on CUDA: a plugin callback SIGKILLs the process after 7 optimizer steps when LMLAB_KILL_AFTER is set
cat >"$OUT_DIR/gpu_killer.py" <<'EOF'
import os, signal
from lmlab.training.callbacks import TrainerCallback


@TrainerCallback.register("gpu_kill_after")
class GpuKillAfter(TrainerCallback):
    """SIGKILLs its own process after $LMLAB_KILL_AFTER optimizer steps. Inputs: -. Outputs: -."""

    def on_batch(self, trainer, batch_outputs, epoch, step):
        limit = os.environ.get("LMLAB_KILL_AFTER")
        if limit and step >= int(limit):
            os.kill(os.getpid(), signal.SIGKILL)
EOF
KILLABLE="{$TINY, \"trainer.use_amp\": true, \"trainer.amp_dtype\": \"float16\", \"trainer.callbacks\": [{\"type\": \"gpu_kill_after\"}]}"
recover() {
  PYTHONPATH="$OUT_DIR:$PYTHONPATH" lmlab_train -s "$OUT_DIR/runs/straight" -o "$KILLABLE" --include-package gpu_killer || return 1
  LMLAB_KILL_AFTER=7 PYTHONPATH="$OUT_DIR:$PYTHONPATH" lmlab_train -s "$OUT_DIR/runs/killed" -o "$KILLABLE" \
    --include-package gpu_killer; [ $? -eq 137 ] || { echo "expected death by SIGKILL"; return 1; }
  PYTHONPATH="$OUT_DIR:$PYTHONPATH" lmlab_train -s "$OUT_DIR/runs/killed" -o "$KILLABLE" --include-package gpu_killer \
    --recover || return 1
  py -c "
import torch
a, b = (torch.load('$OUT_DIR/runs/' + r + '/checkpoints/checkpoint_epoch_3_batch_0.th', weights_only=True)['model'] for r in ('straight', 'killed'))
diff = max((a[k].float() - b[k].float()).abs().max().item() for k in a if a[k].numel())
print(f'max |straight - recovered| = {diff:.3g} (0 when the GPU kernels are deterministic)')
assert diff < 1e-3"
}
step recover_fp16 recover
grep "max |" "$OUT_DIR/recover_fp16.log"

step nccl_1 py -m torch.distributed.run --standalone --nproc-per-node 1 -m lmlab train "$CONFIG" \
  -s "$OUT_DIR/runs/nccl_1" -o "{$TINY, \"trainer.use_amp\": true}"
GPUS=$(python -c "import torch; print(torch.cuda.device_count())")
if [ "$GPUS" -ge 2 ]; then
  step nccl_all lmlab_train -s "$OUT_DIR/runs/nccl_all" -o "{$TINY}" --nproc "$GPUS"
else
  echo "SKIP nccl_all (one GPU)"
fi
sparse_refused() {
  py -m torch.distributed.run --standalone --nproc-per-node 1 -m lmlab train "$CONFIG" -s "$OUT_DIR/runs/sparse" \
    -o "{$TINY, \"model.text_field_embedder.token_embedders.tokens.sparse\": true}"
  code=$?
  [ $code -ne 0 ] && grep -q "cannot be averaged over GPUs" "$OUT_DIR/sparse_refused.log"
}
step sparse_refused sparse_refused

for candidate in "${WIKITEXT2_DIR:-}" runs/wikitext-2 ../shared/data/wikitext-2; do
  if [ -n "$candidate" ] && [ -f "$candidate/train.txt" ]; then export WIKITEXT2_DIR=$(realpath "$candidate"); break; fi
done
if [ -f "${WIKITEXT2_DIR:-}/train.txt" ]; then
  step throughput py benchmarks/ddp_throughput.py --device cuda --nproc 1 --batches 400 --repeats 2
  cat "$OUT_DIR/throughput.log"
  step throughput_bf16 py benchmarks/ddp_throughput.py --device cuda --nproc 1 --batches 400 --repeats 2 --use-amp
  cat "$OUT_DIR/throughput_bf16.log"
else
  echo "SKIP throughput (no WikiText-2: set WIKITEXT2_DIR)"
fi
exit $FAILED
