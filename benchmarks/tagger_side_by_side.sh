#!/usr/bin/env bash
# The CoNLL-2000 BiLSTM-CRF chunker side by side: AllenNLP 2.10's crf_tagger (allennlp-models) and lmlab's
# configs/ldnet/conll2000_tagger.jsonnet on the same recipe, seed by seed; prints dev F1 after every epoch, the
# wall-clock seconds and the peak RSS of each run, and the ratios.
#
#   bash benchmarks/tagger_side_by_side.sh ALLENNLP_VENV [SEEDS="1 2"] [EPOCHS=2] [THREADS=2]
#
# ALLENNLP_VENV: a virtual environment with allennlp and allennlp-models 2.10.1 (../shared/peers/allennlp/setup.sh
# builds one in WORK/venv). lmlab runs with this checkout and `python3`. Nothing of AllenNLP is in this repository:
# its side is its own `allennlp train` on the config written below.
# The recipe (issue 20): the first 3,000 sentences of CoNLL-2000's train.txt, dev = the first 300 of test.txt;
# words 100 (lowercased), a character BiLSTM (30-dim characters, 2 x 50), a word BiLSTM (2 x 150), dropout 0.5,
# a CRF over BIOES (AllenNLP: BIOUL, the same coding), batches of 16 shuffled, Adam 0.002, gradient norm 5, no
# learning-rate schedule, EPOCHS epochs, one CPU process with THREADS threads. The two sides run alternately.
set -uo pipefail
cd "$(dirname "$0")/.."
venv=${1:?usage: tagger_side_by_side.sh ALLENNLP_VENV [SEEDS] [EPOCHS] [THREADS]}
seeds=${2:-1 2} epochs=${3:-2} threads=${4:-2}
data=${CONLL2000_DIR:-../shared/data/conll2000}
out=$(mktemp -d)
export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
echo "runs in $out"

python3 - "$data" "$out" <<'PY'
import sys
from pathlib import Path
data, out = Path(sys.argv[1]), Path(sys.argv[2])
def first(path, n):
    sentences = path.read_text().strip().split("\n\n")[:n]
    return "\n\n".join(sentences) + "\n"
(out / "train.txt").write_text(first(data / "train.txt", 3000))
(out / "dev.txt").write_text(first(data / "test.txt", 300))
PY

cat >"$out/allennlp.jsonnet" <<J
local seed = std.parseInt(std.extVar("SEED"));
local reader = {type: "conll2000", tag_label: "chunk", convert_to_coding_scheme: "BIOUL",
                token_indexers: {tokens: {type: "single_id", lowercase_tokens: true},
                                 token_characters: {type: "characters", min_padding_length: 1}}};
{
  random_seed: seed, numpy_seed: seed, pytorch_seed: seed,
  dataset_reader: reader,
  train_data_path: "$out/train.txt",
  validation_data_path: "$out/dev.txt",
  model: {
    type: "crf_tagger",
    label_encoding: "BIOUL",
    constrain_crf_decoding: true,
    calculate_span_f1: true,
    dropout: 0.5,
    text_field_embedder: {token_embedders: {
      tokens: {type: "embedding", embedding_dim: 100},
      token_characters: {type: "character_encoding", embedding: {embedding_dim: 30}, dropout: 0.5,
                         encoder: {type: "lstm", input_size: 30, hidden_size: 50, bidirectional: true}},
    }},
    encoder: {type: "lstm", input_size: 200, hidden_size: 150, bidirectional: true},
  },
  data_loader: {batch_size: 16, shuffle: true},
  validation_data_loader: {batch_size: 64, shuffle: false},
  trainer: {optimizer: {type: "adam", lr: 0.002}, grad_norm: 5.0, num_epochs: $epochs,
            validation_metric: "+f1-measure-overall", cuda_device: -1},
}
J

lmlab_overrides() {  # $1 = seed
  cat <<J
{"random_seed": $1, "numpy_seed": $1, "pytorch_seed": $1,
 "dataset_reader.dev_split": null, "validation_dataset_reader.dev_split": null,
 "train_data_path": "$out/train.txt", "validation_data_path": "$out/dev.txt", "test_data_path": null,
 "evaluate_on_test": false, "trainer.num_epochs": $epochs, "trainer.patience": null,
 "trainer.learning_rate_scheduler": null, "trainer.progress_bar": false, "trainer.cuda_device": -1}
J
}

source benchmarks/timed.sh  # timed NAME COMMAND...

for seed in $seeds; do
  SEED=$seed timed "allennlp_$seed" "$venv/bin/allennlp" train "$out/allennlp.jsonnet" -s "$out/allennlp_$seed" \
    --include-package allennlp_models.tagging
  timed "lmlab_$seed" python3 -m lmlab train configs/ldnet/conll2000_tagger.jsonnet -s "$out/lmlab_$seed" \
    -o "$(lmlab_overrides "$seed")"
done

python3 - "$out" "$epochs" $seeds <<'PY'
import json, sys
from pathlib import Path
out, epochs, seeds = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
def dev_f1(run):
    return [100 * json.loads((run / f"metrics_epoch_{e}.json").read_text()).get("validation_f1-measure-overall", float("nan"))
            if (run / f"metrics_epoch_{e}.json").is_file() else float("nan") for e in range(epochs)]
def number(path, scale=1.0):
    return float(path.read_text().split()[-1]) * scale if path.is_file() else float("nan")
print(f"{'run':<16}" + "".join(f"{'dev F1 ep ' + str(e + 1):>12}" for e in range(epochs)) + f"{'seconds':>10}{'peak MB':>10}")
for seed in seeds:
    row = {}
    for side in ("allennlp", "lmlab"):
        seconds, rss = number(out / f"{side}_{seed}.seconds"), number(out / f"{side}_{seed}.rss", 1 / 1024)
        row[side] = (seconds, rss)
        print(f"{side + ' seed ' + seed:<16}" + "".join(f"{f:>12.2f}" for f in dev_f1(out / f"{side}_{seed}"))
              + f"{seconds:>10.1f}{rss:>10.0f}")
    (a_s, a_m), (l_s, l_m) = row["allennlp"], row["lmlab"]
    print(f"{'  ratio':<16}{'':>{12 * epochs}}{a_s / l_s:>9.2f}x{l_m / a_m:>9.2f}x   (AllenNLP / lmlab time, lmlab / AllenNLP memory)")
PY
