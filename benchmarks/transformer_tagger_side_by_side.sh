#!/usr/bin/env bash
# A CRF chunker on the word features of a small BERT (random weights, 4 layers x 256, made here), side by side:
# AllenNLP 2.10's crf_tagger on its pretrained_transformer_mismatched embedder, and lmlab's
# configs/transformers/conll2000_tagger.jsonnet, on the same recipe; prints each side's training sentences/s
# (sentences x epochs / the trainer's own training time), the wall-clock seconds of the whole command, the
# peak RSS and dev F1, then the ratios.
#
#   bash benchmarks/transformer_tagger_side_by_side.sh ALLENNLP_VENV [SENTENCES=1000] [EPOCHS=1] [THREADS=2]
#
# ALLENNLP_VENV: a virtual environment with allennlp and allennlp-models 2.10.1 and transformers 4.30
# (../shared/peers/allennlp/setup.sh builds one in WORK/venv). lmlab runs with this checkout and `python3`
# (with lmlab[transformers]). Nothing of AllenNLP is in this repository: its side is its own `allennlp train`.
# The model is written by the AllenNLP venv's transformers (the older format, which both sides read): a BERT
# WordPiece vocabulary of 8,000 trained on CoNLL-2000's training words (lowercased), 4 layers, hidden 256,
# 4 heads, feed-forward 1024, seed 0. The recipe: the first SENTENCES sentences of train.txt, dev = the first
# 300 of test.txt; each word's first piece (AllenNLP: sub_token_mode "first"); no encoder between the
# transformer and the CRF (AllenNLP: "pass_through"); CRF over BIOES (AllenNLP: BIOUL, the same coding),
# constrained decoding; dropout 0.1; batches of 16 shuffled; AdamW, lr 1e-3 and 5e-5 for the transformer,
# weight decay 0.01, linear warm-up over 100 steps then linear decay, gradient norm 1; one CPU process with
# THREADS threads. The two sides run one after the other.
set -uo pipefail
cd "$(dirname "$0")/.."
venv=${1:?usage: transformer_tagger_side_by_side.sh ALLENNLP_VENV [SENTENCES] [EPOCHS] [THREADS]}
sentences=${2:-1000} epochs=${3:-1} threads=${4:-2}
data=${CONLL2000_DIR:-../shared/data/conll2000}
out=$(mktemp -d)
export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
echo "runs in $out"

"$venv/bin/python" - "$data" "$out" "$sentences" <<'PY'
import sys
from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

data, out, count = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
def first(path, n):
    return "\n\n".join(path.read_text().strip().split("\n\n")[:n]) + "\n"
(out / "train.txt").write_text(first(data / "train.txt", count))
(out / "dev.txt").write_text(first(data / "test.txt", 300))
words = [line.split()[0] for line in (data / "train.txt").read_text().splitlines() if line.strip()]
specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
tok.normalizer = normalizers.BertNormalizer(lowercase=True)
tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
tok.train_from_iterator(words, trainers.WordPieceTrainer(vocab_size=8000, special_tokens=specials))
bert = out / "bert"
bert.mkdir()
vocab = sorted(tok.get_vocab().items(), key=lambda item: item[1])
(bert / "vocab.txt").write_text("".join(token + "\n" for token, _ in vocab))
transformers.BertTokenizerFast(vocab_file=str(bert / "vocab.txt"), do_lower_case=True).save_pretrained(bert)
torch.manual_seed(0)
config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=256, num_hidden_layers=4, num_attention_heads=4,
                                 intermediate_size=1024, max_position_embeddings=512)
transformers.BertModel(config).save_pretrained(bert)
print(f"BERT: {len(vocab)} WordPieces, {sum(p.numel() for p in transformers.BertModel(config).parameters())} parameters")
PY

cat >"$out/allennlp.jsonnet" <<J
local bert = "$out/bert";
{
  random_seed: 1, numpy_seed: 1, pytorch_seed: 1,
  dataset_reader: {type: "conll2000", tag_label: "chunk", convert_to_coding_scheme: "BIOUL",
                   token_indexers: {tokens: {type: "pretrained_transformer_mismatched", model_name: bert}}},
  train_data_path: "$out/train.txt",
  validation_data_path: "$out/dev.txt",
  model: {
    type: "crf_tagger",
    label_encoding: "BIOUL",
    constrain_crf_decoding: true,
    calculate_span_f1: true,
    dropout: 0.1,
    text_field_embedder: {token_embedders: {
      tokens: {type: "pretrained_transformer_mismatched", model_name: bert, sub_token_mode: "first"},
    }},
    encoder: {type: "pass_through", input_dim: 256},
  },
  data_loader: {batch_size: 16, shuffle: true},
  validation_data_loader: {batch_size: 64, shuffle: false},
  trainer: {
    optimizer: {type: "huggingface_adamw", lr: 1e-3, weight_decay: 0.01,
                parameter_groups: [[["transformer_model"], {lr: 5e-5}]]},
    learning_rate_scheduler: {type: "linear_with_warmup", warmup_steps: 100},
    grad_norm: 1.0, num_epochs: $epochs, validation_metric: "+f1-measure-overall", cuda_device: -1,
  },
}
J

lmlab_overrides=$(cat <<J
{"random_seed": 1, "numpy_seed": 1, "pytorch_seed": 1,
 "dataset_reader.dev_split": null, "validation_dataset_reader.dev_split": null,
 "train_data_path": "$out/train.txt", "validation_data_path": "$out/dev.txt", "test_data_path": null,
 "evaluate_on_test": false, "data_loader.bucket_by_length": false, "trainer.num_epochs": $epochs,
 "trainer.learning_rate_scheduler.warmup_steps": 100, "trainer.progress_bar": false, "trainer.cuda_device": -1}
J
)

source benchmarks/timed.sh  # timed NAME COMMAND...

timed allennlp "$venv/bin/allennlp" train "$out/allennlp.jsonnet" -s "$out/allennlp" --include-package allennlp_models.tagging
HF_MODEL="$out/bert" timed lmlab python3 -m lmlab train configs/transformers/conll2000_tagger.jsonnet -s "$out/lmlab" \
  -o "$lmlab_overrides"

python3 - "$out" "$sentences" "$epochs" <<'PY'
import json, sys
from pathlib import Path
out, sentences, epochs = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def seconds(text):  # AllenNLP writes "H:MM:SS.ffffff"
    hours, minutes, secs = (float(part) for part in str(text).split(":"))
    return 3600 * hours + 60 * minutes + secs
rows = {}
for side in ("allennlp", "lmlab"):
    metrics_path = out / side / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    training = seconds(metrics["training_duration"]) if side == "allennlp" and "training_duration" in metrics \
        else metrics.get("training_duration_seconds", float("nan"))
    wall = float((out / f"{side}.seconds").read_text())
    rss = float((out / f"{side}.rss").read_text().split()[-1]) / 1024
    f1 = 100 * metrics.get("best_validation_f1-measure-overall", float("nan"))
    rows[side] = (sentences * epochs / training, wall, rss, f1)
print(f"{'side':<10}{'train sent/s':>14}{'wall s':>10}{'peak MB':>10}{'dev F1':>10}")
for side, (speed, wall, rss, f1) in rows.items():
    print(f"{side:<10}{speed:>14.1f}{wall:>10.1f}{rss:>10.0f}{f1:>10.2f}")
(a_speed, a_wall, a_rss, _), (l_speed, l_wall, l_rss, _) = rows["allennlp"], rows["lmlab"]
print(f"lmlab / AllenNLP: {l_speed / a_speed:.2f}x training sentences/s, {a_wall / l_wall:.2f}x less wall time, "
      f"{l_rss / a_rss:.2f}x the peak memory")
PY
