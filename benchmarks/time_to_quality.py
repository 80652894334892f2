"""Time to quality on several corpora: lmlab's fast recipe vs PyTorch's word_language_model example, same time.

    python benchmarks/time_to_quality.py [--minutes 15] [--config configs/lm/fast.jsonnet]
        [--corpora wikitext-2,wikitext-2-0.5M,conll2000,ud-english-ewt] [--data DIR ...]
        [--max-train-tokens N] [--max-valid-tokens N]

One row per corpus. The corpora (built into a temporary folder, never into the repository):

* wikitext-2: `../shared/data/wikitext-2` as it is (2.09M training tokens, 33,278 words).
* wikitext-2-0.5M: its first 0.5M training tokens (whole lines); validation: the first 60k tokens of its
  validation file; test: its test file.
* conll2000: the running text of CoNLL-2000's WSJ sentences, one sentence a line (train: 221k tokens);
  validation: the first half of its test sentences, test: the second half.
* ud-english-ewt: the running text of UD English EWT (web text; train 217k tokens, dev, test), one sentence
  a line, multi-word tokens' parts as the words.
* `--data DIR` (repeatable): a folder with train.txt / valid.txt / test.txt, used as it is; alone, it
  replaces the default list.

The built corpora get a closed vocabulary as WikiText-2 and the Penn Treebank LM data have: the 10,000 most
frequent words that occur at least twice in the training text; every other word, in every split, becomes
<unk>. Both sides then score the same events (an open vocabulary would charge the example, whose dictionary
holds every validation word, for words it never trained on, and lmlab's single unknown token not at all).

For each corpus, two processes train at the same time, one intra-op thread each (one core each on a 2-core
machine):

* lmlab: `lmlab train CONFIG` (default configs/lm/fast.jsonnet, a contiguous-stream config; `LM_DATA_DIR`
  points it at the corpus), planned to train for about `--minutes`: two short calibration runs of the same
  config (20 and 120 batches) measure its steady seconds per batch, and `lmlab evaluate` on the validation
  file the cost of one validation. The budget is then k epochs of about one pass over the training text each
  (`data_loader.batches_per_epoch` x `trainer.num_epochs`, so that the config's learning-rate decay ends
  when the time does), validation included at the config's cadence (every epoch and every
  `trainer.validate_every_n_batches`); the config's patience may end it sooner. The vocabulary is built
  once from the whole training file.
* hand: a hand-written loop that mirrors PyTorch's examples/word_language_model `main.py` with its
  defaults: embedding 200, 2-layer LSTM 200, dropout 0.2 (embedding, between layers, output), weights
  uniform(-0.1, 0.1), full softmax, bptt 35, batch 20, SGD lr 20 by hand with gradient-norm clipping
  0.25, hidden state carried across windows, seed 1111; after each epoch it is validated, keeps its best
  weights and divides the lr by 4 if validation did not improve (validation time is not counted as training
  time). Its dictionary is built like the example's `Corpus` (train, valid and test words, in order).

The hand loop starts when lmlab's trainer starts (after both have read their data and built their models)
and stops when lmlab's trainer finishes, or after `--minutes` if lmlab stopped sooner. Then each is
validated on the validation file, batchified into 10 streams with bptt 35 and the hidden state carried
(the example's evaluation; lmlab's is the config's validation reader, the same layout): lmlab's archive
(the weights of its best validation) and the hand loop's best weights (of its epoch-end validations and
its final state). The table shows both validation perplexities, their ratio (targets: <= 0.5 on
WikiText-2, <= 0.7 elsewhere), passes over the training text, training tokens/s of each, and where lmlab's
best validation was (share of its batches) and the scale its plateau annealing left on the rate.

`--max-train-tokens` / `--max-valid-tokens` cut each corpus's files further (whole lines) for a quick check
of the script itself, e.g. `--minutes 0.5 --max-train-tokens 200000 --max-valid-tokens 20000`;
vocabularies still come from the uncut files. Nothing is asserted.
"""
import argparse
import collections
import contextlib
import copy
import io
import json
import math
import multiprocessing
import os
import queue
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LMLAB_SHARED_DATA", str(ROOT.parent / "shared" / "data")))
CORPORA = ("wikitext-2", "wikitext-2-0.5M", "conll2000", "ud-english-ewt")
CALIBRATION_BATCHES = (20, 120)  # two calibration runs (see `lmlab_process`)
VOCABULARY_SIZE, MIN_COUNT = 10_000, 2  # the closed vocabulary of the built corpora

# Set in each child process before training: the events that tie the hand loop's clock to lmlab's trainer.
_CLOCK: Dict[str, Any] = {}


def _register_clock_callback() -> None:
    """Register the "time_to_quality_clock" trainer callback (in whichever process trains with lmlab)."""
    from lmlab.training.callbacks import TrainerCallback

    if "time_to_quality_clock" in TrainerCallback.list_available():
        return

    @TrainerCallback.register("time_to_quality_clock")
    class Clock(TrainerCallback):
        """Signals the start and the end of training to the hand-written loop's process.

        Inputs: the trainer's start and end hooks. Outputs: none (sets two multiprocessing events).
        """

        def on_start(self, trainer: Any) -> None:
            _CLOCK["start_time"] = time.perf_counter()
            if "started" in _CLOCK:
                _CLOCK["started"].set()

        def on_end(self, trainer: Any, metrics: Dict[str, Any]) -> None:
            _CLOCK["seconds"] = time.perf_counter() - _CLOCK["start_time"]
            if "finished" in _CLOCK:
                _CLOCK["finished"].set()


# --------------------------------------------------------------------------------------------------
# Data

Sentences = List[List[str]]


def read_lines(path: Path) -> Sentences:
    return [line.split() for line in open(path, encoding="utf-8")]


def read_conll_words(path: Path, column: int, skip: Iterable[str] = ()) -> Sentences:
    """The words (`column`) of a CoNLL-style file, one list per blank-line-separated sentence; lines
    starting with `#` are comments, and token lines whose id contains one of `skip` (CoNLL-U's multi-word
    ranges "1-2" and empty nodes "1.1") are left out."""
    sentences: Sentences = []
    current: List[str] = []
    for line in open(path, encoding="utf-8"):
        line = line.rstrip("\n")
        if not line.strip():
            if current:
                sentences.append(current)
            current = []
            continue
        if line.startswith("#"):
            continue
        columns = line.split("\t") if "\t" in line else line.split()
        if not any(mark in columns[0] for mark in skip):
            current.append(columns[column])
    if current:
        sentences.append(current)
    return sentences


def first_tokens(lines: Sentences, limit: int) -> Sentences:
    """The first whole lines holding at most `limit` tokens (each line's <eos> counted)."""
    kept, count = [], 0
    for line in lines:
        count += len(line) + 1
        if count > limit:
            break
        kept.append(line)
    return kept


def write_closed_corpus(out: Path, splits: Dict[str, Sentences]) -> Path:
    """train/valid/test.txt in `out`, every word outside the training text's closed vocabulary as <unk>."""
    counts = collections.Counter(word for line in splits["train"] for word in line)
    kept = {word for word, count in counts.most_common(VOCABULARY_SIZE) if count >= MIN_COUNT}
    out.mkdir(parents=True, exist_ok=True)
    for name, lines in splits.items():
        text = "".join(" ".join(word if word in kept else "<unk>" for word in line) + "\n" for line in lines)
        (out / f"{name}.txt").write_text(text, encoding="utf-8")
    return out


def build_corpus(name: str, out: Path) -> Path:
    """The folder (train/valid/test.txt) of one of `CORPORA`, built under `out` unless used as it is."""
    wikitext = SHARED_DATA / "wikitext-2"
    if name == "wikitext-2":
        return wikitext
    if name == "wikitext-2-0.5M":
        splits = {"train": first_tokens(read_lines(wikitext / "train.txt"), 500_000),
                  "valid": first_tokens(read_lines(wikitext / "valid.txt"), 60_000),
                  "test": read_lines(wikitext / "test.txt")}
    elif name == "conll2000":
        test = read_conll_words(SHARED_DATA / "conll2000" / "test.txt", 0)
        splits = {"train": read_conll_words(SHARED_DATA / "conll2000" / "train.txt", 0),
                  "valid": test[:len(test) // 2], "test": test[len(test) // 2:]}
    elif name == "ud-english-ewt":
        ewt = SHARED_DATA / "ud-english-ewt"
        splits = {split: read_conll_words(ewt / f"en_ewt-ud-{part}.conllu", 1, skip="-.")
                  for split, part in (("train", "train"), ("valid", "dev"), ("test", "test"))}
    else:
        raise SystemExit(f"unknown corpus {name!r}; expected one of {', '.join(CORPORA)} (or --data DIR)")
    return write_closed_corpus(out / name, splits)


def cut_files(data: Path, out: Path, max_train_tokens: Optional[int], max_valid_tokens: Optional[int]) -> Path:
    """Copies of train.txt / valid.txt / test.txt cut after whole lines to at most N tokens (<eos> counted)."""
    if max_train_tokens is None and max_valid_tokens is None:
        return data
    out.mkdir(parents=True, exist_ok=True)
    for name, limit in (("train.txt", max_train_tokens), ("valid.txt", max_valid_tokens),
                        ("test.txt", max_valid_tokens)):
        lines = read_lines(data / name)
        kept = first_tokens(lines, limit) if limit is not None else lines
        (out / name).write_text("".join(" ".join(line) + "\n" for line in kept), encoding="utf-8")
    return out


def count_tokens(path: Path) -> int:
    """Tokens of a file read as one stream (whitespace tokens, <eos> after each line)."""
    with open(path, encoding="utf-8") as lines:
        return sum(len(line.split()) + 1 for line in lines)


# --------------------------------------------------------------------------------------------------
# lmlab

def plan(seconds: float, seconds_per_batch: float, validation_seconds: float, batches_per_pass: int,
         validate_every: Optional[int]) -> Tuple[int, int]:
    """(epochs, batches per epoch) filling `seconds` with training and validations: k epochs of about one
    pass each, every epoch validated at its end and every `validate_every` batches."""
    epochs, batches = 1, max(1, int(seconds / seconds_per_batch))
    for _ in range(3):  # the epoch length and the number of validations depend on each other: iterate
        epochs = max(1, round(batches / batches_per_pass))
        length = max(1, batches // epochs)
        validations = math.ceil(length / validate_every) if validate_every else 1
        batches = max(1, int(seconds / (seconds_per_batch + validation_seconds * validations / length)))
    epochs = max(1, round(batches / batches_per_pass))
    return epochs, max(1, batches // epochs)


def lmlab_process(args: argparse.Namespace, data_dir: str, full_data: str, workdir: str, started: Any,
                  finished: Any, results: Any) -> None:
    import torch

    torch.set_num_threads(1)
    os.environ["LM_DATA_DIR"] = data_dir
    from lmlab.commands import main
    from lmlab.common.params import Params
    from lmlab.data.dataset_readers.dataset_reader import DatasetReader
    from lmlab.data.vocabulary import Vocabulary
    from lmlab.training.checkpointer import Checkpointer

    _register_clock_callback()

    def run_cli(argv: List[str]) -> float:
        """`lmlab ARGV` in this process, its seconds; its log and output are shown only if it fails."""
        output = io.StringIO()
        start = time.perf_counter()
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            code = main(argv)
        if code != 0:
            raise SystemExit(f"lmlab {argv[0]} failed with exit code {code}:\n{output.getvalue()[-3000:]}")
        return time.perf_counter() - start

    config = Params.from_file(args.config).as_dict()
    reader_config = config["dataset_reader"]
    if reader_config.get("type") != "contiguous_language_modeling" or not reader_config.get("num_streams"):
        raise SystemExit(f"{args.config}: expected a contiguous_language_modeling reader with num_streams")
    streams, bptt = reader_config["num_streams"], reader_config.get("bptt", 35)
    validate_every = config["trainer"].get("validate_every_n_batches")

    # the vocabulary of the whole training file, built once (like the hand loop's dictionary)
    vocab_dir = Path(workdir) / "vocabulary"
    reader = DatasetReader.from_params(Params(dict(reader_config), "dataset_reader"))
    Vocabulary.from_instances(reader.read(str(Path(full_data) / "train.txt"))).save_to_files(str(vocab_dir))

    base = {"vocabulary": {"type": "from_files", "directory": str(vocab_dir)},
            "test_data_path": None, "evaluate_on_test": False,
            "trainer": {"progress_bar": False, "checkpoint_every_n_batches": None, "cuda_device": -1,
                        "callbacks": [{"type": "time_to_quality_clock"}]}}

    def train(run: str, overrides: Dict[str, Any]) -> Dict[str, Any]:
        merged = json.loads(json.dumps(base))
        for key, value in overrides.items():  # "section.name" or a top-level "name"
            section, _, name = key.rpartition(".")
            (merged.setdefault(section, {}) if section else merged)[name] = value
        run_cli(["train", args.config, "-s", run, "-o", json.dumps(merged)])
        return json.loads((Path(run) / "metrics.json").read_text())

    def calibrate(batches: int) -> float:
        """Training seconds of a run of `batches` batches (warm-up and the first batches included)."""
        metrics = train(str(Path(workdir) / f"calibration_{batches}"),
                        {"data_loader.batches_per_epoch": batches, "trainer.num_epochs": 1,
                         "trainer.learning_rate_scheduler": None, "trainer.validate_every_n_batches": None,
                         "trainer.patience": None, "validation_data_path": None})
        return batches * streams * bptt / metrics["training_tokens_per_second"]

    # the difference of a short and a longer run: the steady cost of one batch, without the fixed start-up
    # cost (the first batches of a run are much slower, which made a single short run overestimate it 1.6x)
    seconds_per_batch = (calibrate(CALIBRATION_BATCHES[1]) - calibrate(CALIBRATION_BATCHES[0])) / (
        CALIBRATION_BATCHES[1] - CALIBRATION_BATCHES[0])
    # one validation: evaluating the calibration model (reading the file included: a slight overestimate)
    validation_seconds = run_cli(["evaluate", str(Path(workdir) / f"calibration_{CALIBRATION_BATCHES[1]}" /
                                                  "model.tar.gz"), str(Path(data_dir) / "valid.txt"),
                                  "--output-file", str(Path(workdir) / "calibration_evaluation.json")])
    train_tokens = count_tokens(Path(data_dir) / "train.txt")
    batches_per_pass = max(1, train_tokens // (streams * bptt))
    epochs, length = plan(args.minutes * 60, seconds_per_batch, validation_seconds, batches_per_pass,
                          validate_every)
    _CLOCK.update(started=started, finished=finished)
    run = Path(workdir) / "run"
    metrics = train(str(run), {"data_loader.batches_per_epoch": length, "trainer.num_epochs": epochs})
    _CLOCK.pop("started"), _CLOCK.pop("finished")
    evaluation = Path(workdir) / "evaluation.json"
    run_cli(["evaluate", str(run / "model.tar.gz"), str(Path(data_dir) / "valid.txt"),
             "--output-file", str(evaluation)])
    done = metrics["epoch"] * length + metrics["batch"]
    latest = Checkpointer(str(run)).latest()
    scheduler = torch.load(latest, weights_only=True)["scheduler"] if latest is not None else None
    scale = scheduler["plateau"]["scale"] if scheduler and "plateau" in scheduler else 1.0
    results.put({"side": "lmlab", "perplexity": json.loads(evaluation.read_text())["perplexity"],
                 "seconds": _CLOCK["seconds"], "tokens_per_second": metrics["training_tokens_per_second"],
                 "batches": done, "planned": epochs * length, "epochs": done * streams * bptt / train_tokens,
                 "best_at": (metrics["best_epoch"] * length + metrics["best_batch"]) / max(done, 1),
                 "plateau_scale": scale,
                 "calibration_seconds_per_batch": seconds_per_batch, "validation_seconds": validation_seconds})


# --------------------------------------------------------------------------------------------------
# The hand-written loop (PyTorch's word_language_model example, defaults)

def hand_process(minutes: float, data_dir: str, full_data: str, started: Any, finished: Any, results: Any) -> None:
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(1111)
    bptt, batch_size, eval_batch_size, clip = 35, 20, 10, 0.25

    dictionary: Dict[str, int] = {}
    for name in ("train.txt", "valid.txt", "test.txt"):  # the example's Corpus adds every split's words
        for line in open(Path(full_data) / name, encoding="utf-8"):
            for word in line.split() + ["<eos>"]:
                dictionary.setdefault(word, len(dictionary))

    def tokenize(path: Path) -> torch.Tensor:
        return torch.tensor([dictionary[word] for line in open(path, encoding="utf-8")
                             for word in line.split() + ["<eos>"]], dtype=torch.long)

    def batchify(ids: torch.Tensor, streams: int) -> torch.Tensor:
        n = ids.size(0) // streams
        return ids[:n * streams].view(streams, n).t().contiguous()  # (N, B): column b is stream b

    train_data = batchify(tokenize(Path(data_dir) / "train.txt"), batch_size)
    valid_data = batchify(tokenize(Path(data_dir) / "valid.txt"), eval_batch_size)
    vocab_size = len(dictionary)

    class RnnModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.drop = torch.nn.Dropout(0.2)
            self.encoder = torch.nn.Embedding(vocab_size, 200)
            self.rnn = torch.nn.LSTM(200, 200, 2, dropout=0.2)
            self.decoder = torch.nn.Linear(200, vocab_size)
            torch.nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
            torch.nn.init.zeros_(self.decoder.bias)
            torch.nn.init.uniform_(self.decoder.weight, -0.1, 0.1)

        def forward(self, ids: torch.Tensor, hidden: Any) -> Any:
            output, hidden = self.rnn(self.drop(self.encoder(ids)), hidden)  # (T, B, 200)
            return torch.log_softmax(self.decoder(self.drop(output)), dim=-1), hidden  # (T, B, V)

    def zeros(streams: int) -> Any:
        return torch.zeros(2, streams, 200), torch.zeros(2, streams, 200)

    def evaluate(model: RnnModel, source: torch.Tensor) -> float:
        model.eval()
        total, hidden = 0.0, zeros(eval_batch_size)
        with torch.no_grad():
            for i in range(0, source.size(0) - 1, bptt):
                length = min(bptt, source.size(0) - 1 - i)
                output, hidden = model(source[i:i + length], hidden)
                total += length * torch.nn.functional.nll_loss(
                    output.view(-1, vocab_size), source[i + 1:i + 1 + length].reshape(-1)).item()
        return total / (source.size(0) - 1)

    model = RnnModel()
    criterion = torch.nn.NLLLoss()

    def step(model: RnnModel, i: int, hidden: Any, lr: float) -> Any:
        length = min(bptt, train_data.size(0) - 1 - i)
        hidden = tuple(h.detach() for h in hidden)
        model.zero_grad()
        output, hidden = model(train_data[i:i + length], hidden)
        loss = criterion(output.view(-1, vocab_size), train_data[i + 1:i + 1 + length].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        for parameter in model.parameters():
            if parameter.grad is not None:
                parameter.data.add_(parameter.grad, alpha=-lr)
        return hidden

    # while lmlab calibrates, train a throwaway copy: the machine is then as busy as in the timed run
    scratch, hidden, i = copy.deepcopy(model), zeros(batch_size), 0
    while not started.is_set():
        hidden, i = step(scratch, i, hidden, 20.0), (i + bptt) % (train_data.size(0) - 1)
    del scratch
    lr, best, trained_seconds, tokens = 20.0, math.inf, 0.0, 0
    start = time.perf_counter()

    def out_of_time() -> bool:  # lmlab is done, and so is the budget (lmlab may have stopped on patience)
        return finished.is_set() and time.perf_counter() - start >= minutes * 60

    done = False
    while not done:
        model.train()
        hidden = zeros(batch_size)
        epoch_start = time.perf_counter()
        for i in range(0, train_data.size(0) - 1, bptt):
            if out_of_time():
                done = True
                break
            hidden = step(model, i, hidden, lr)
            tokens += min(bptt, train_data.size(0) - 1 - i) * batch_size
        trained_seconds += time.perf_counter() - epoch_start
        if not done:  # end of a full epoch: the example validates, keeps the best and anneals (not timed)
            validation = evaluate(model, valid_data)
            if validation < best:
                best = validation
            else:
                lr /= 4.0
            done = out_of_time()
    best = min(best, evaluate(model, valid_data))  # the example's saved best, or the state the time ended in
    results.put({"side": "hand", "perplexity": math.exp(best), "seconds": trained_seconds,
                 "tokens_per_second": tokens / max(trained_seconds, 1e-9),
                 "epochs": tokens / (train_data.numel() - batch_size)})


# --------------------------------------------------------------------------------------------------

def race(args: argparse.Namespace, data: Path, workdir: Path) -> Dict[str, Dict[str, Any]]:
    """Train both sides at the same time on the corpus in `data`; their results by side."""
    context = multiprocessing.get_context("spawn")
    started, finished, results = context.Event(), context.Event(), context.Queue()
    data_dir = str(cut_files(data, workdir / "cut", args.max_train_tokens, args.max_valid_tokens))
    processes = [
        context.Process(target=lmlab_process, args=(args, data_dir, str(data), str(workdir), started, finished,
                                                    results)),
        context.Process(target=hand_process, args=(args.minutes, data_dir, str(data), started, finished, results)),
    ]
    for process in processes:
        process.start()
    rows: List[Dict[str, Any]] = []
    while len(rows) < 2:
        if any(p.exitcode not in (None, 0) for p in processes) and results.empty():
            finished.set()  # unblock the other side, then report the failure
            started.set()
            for process in processes:
                process.join()
            raise SystemExit("a training process failed (see its output above)")
        try:
            rows.append(results.get(timeout=5))
        except queue.Empty:
            continue
    for process in processes:
        process.join()
    by_side = {row["side"]: row for row in rows}
    by_side["corpus"] = {"train_tokens": count_tokens(Path(data_dir) / "train.txt"),
                         "valid_tokens": count_tokens(Path(data_dir) / "valid.txt")}
    return by_side


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="training time of each side, per corpus")
    parser.add_argument("--config", default=str(ROOT / "configs" / "lm" / "fast.jsonnet"))
    parser.add_argument("--corpora", default=None,
                        help=f"comma-separated, of {', '.join(CORPORA)} (default: all, unless --data is given)")
    parser.add_argument("--data", action="append", default=[], help="a corpus folder with train/valid/test.txt")
    parser.add_argument("--max-train-tokens", type=int, default=None, help="cut train.txt (quick checks)")
    parser.add_argument("--max-valid-tokens", type=int, default=None, help="cut valid.txt and test.txt")
    args = parser.parse_args()
    import torch

    names = args.corpora.split(",") if args.corpora else ([] if args.data else list(CORPORA))
    table: List[Tuple[str, Dict[str, Dict[str, Any]]]] = []
    with tempfile.TemporaryDirectory(prefix="time_to_quality_") as scratch:
        corpora = [(name, build_corpus(name, Path(scratch) / "corpora")) for name in names]
        corpora += [(Path(folder).name, Path(folder)) for folder in args.data]
        for index, (name, data) in enumerate(corpora):
            workdir = Path(scratch) / f"race_{index}"
            workdir.mkdir()
            result = race(args, data, workdir)
            table.append((name, result))
            print(f"{name}: lmlab {result['lmlab']['perplexity']:.1f}, hand {result['hand']['perplexity']:.1f}",
                  file=sys.stderr, flush=True)
    config = Path(args.config)
    print(f"torch {torch.__version__}, 1 intra-op thread per side, device cpu, {os.cpu_count()} cores; "
          f"{args.minutes:g} minutes per side and corpus; lmlab "
          f"{config.relative_to(ROOT) if config.is_relative_to(ROOT) else config} vs the word_language_model "
          f"example's recipe" + (" (files cut)" if args.max_train_tokens or args.max_valid_tokens else ""))
    columns = (f"{'corpus':>16} | {'train tok':>9} | {'lmlab ppl':>9} | {'example':>9} | {'ratio':>5} | "
               f"{'target':>6} | {'epochs':>11} | {'tokens/s':>11} | lmlab: best at, lr scale, batches, s/val")
    print(columns)
    print("-" * len(columns))
    for name, result in table:
        lmlab, hand = result["lmlab"], result["hand"]
        target = 0.5 if name == "wikitext-2" else 0.7
        print(f"{name:>16} | {result['corpus']['train_tokens']:>9} | {lmlab['perplexity']:>9.2f} | "
              f"{hand['perplexity']:>9.2f} | {lmlab['perplexity'] / hand['perplexity']:>5.3f} | {target:>6} | "
              f"{lmlab['epochs']:>5.2f} {hand['epochs']:>5.2f} | {lmlab['tokens_per_second']:>5.0f} "
              f"{hand['tokens_per_second']:>5.0f} | {lmlab['best_at']:.0%}, x{lmlab['plateau_scale']:g}, "
              f"{lmlab['batches']}/{lmlab['planned']}, {lmlab['validation_seconds']:.1f}")
    print("epochs and tokens/s: lmlab, then the example; training seconds: lmlab "
          + ", ".join(f"{result['lmlab']['seconds']:.0f}" for _, result in table) + "; the example "
          + ", ".join(f"{result['hand']['seconds']:.0f}" for _, result in table))


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
