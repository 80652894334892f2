"""Time to quality on WikiText-2: lmlab's fastest config vs PyTorch's word_language_model example, same time.

    python benchmarks/time_to_quality.py [--minutes 15] [--config configs/lm/wikitext2_fast.jsonnet]
                                         [--data DIR] [--max-train-tokens N] [--max-valid-tokens N]

Two processes train at the same time, one intra-op thread each (one core each on a 2-core machine):

* lmlab: `lmlab train CONFIG` (default configs/lm/wikitext2_fast.jsonnet, a contiguous-stream config),
  with the number of training batches set so that training takes about `--minutes`: two short calibration
  runs of the same config (20 and 120 batches) first measure its steady seconds per batch (the config's
  learning-rate schedule then ends when the time does). The vocabulary is built once from the whole training file.
* hand: a hand-written loop that mirrors PyTorch's examples/word_language_model `main.py` with its
  defaults: embedding 200, 2-layer LSTM 200, dropout 0.2 (embedding, between layers, output), weights
  uniform(-0.1, 0.1), full softmax, bptt 35, batch 20, SGD lr 20 by hand with gradient-norm clipping
  0.25, hidden state carried across windows, seed 1111; after each epoch it is validated and the lr is
  divided by 4 if validation did not improve (validation time is not counted as training time).
  Its dictionary is built like the example's `Corpus` (train, valid and test words, in order).

The hand loop starts when lmlab's trainer starts (after both have read their data and built their
models) and stops when lmlab's trainer finishes, so both get the same training time. Then each is
validated on the validation file, batchified into 10 streams with bptt 35 and the hidden state carried
(the example's evaluation; lmlab's is the config's validation reader, the same layout), and the table
shows both validation perplexities, their ratio (target: lmlab <= 0.5 x hand), the training time and
tokens/s of each.

`--max-train-tokens` / `--max-valid-tokens` cut the files (into a temporary folder, not the
repository) for a quick check of the script itself, e.g. `--minutes 0.5 --max-train-tokens 200000
--max-valid-tokens 20000`; vocabularies still come from the whole files. Nothing is asserted.
"""
import argparse
import contextlib
import copy
import io
import json
import math
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = os.environ.get("WIKITEXT2_DIR", str(ROOT.parent / "shared" / "data" / "wikitext-2"))
CALIBRATION_BATCHES = (20, 120)  # two calibration runs (see `lmlab_process`)

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

def cut_files(data: Path, out: Path, max_train_tokens: Optional[int], max_valid_tokens: Optional[int]) -> Path:
    """Copies of train.txt / valid.txt / test.txt cut after whole lines to at most N tokens (<eos> counted)."""
    if max_train_tokens is None and max_valid_tokens is None:
        return data
    out.mkdir(parents=True, exist_ok=True)
    for name, limit in (("train.txt", max_train_tokens), ("valid.txt", max_valid_tokens),
                        ("test.txt", max_valid_tokens)):
        kept, count = [], 0
        with open(data / name, encoding="utf-8") as source:
            for line in source:
                count += len(line.split()) + 1
                if limit is not None and count > limit:
                    break
                kept.append(line)
        (out / name).write_text("".join(kept), encoding="utf-8")
    return out


def count_tokens(path: Path) -> int:
    """Tokens of a file read as one stream (whitespace tokens, <eos> after each line)."""
    with open(path, encoding="utf-8") as lines:
        return sum(len(line.split()) + 1 for line in lines)


# --------------------------------------------------------------------------------------------------
# lmlab

def lmlab_process(args: argparse.Namespace, data_dir: str, full_data: str, workdir: str, started: Any,
                  finished: Any, results: Any) -> None:
    import torch

    torch.set_num_threads(1)
    os.environ["WIKITEXT2_DIR"] = data_dir
    from lmlab.commands import main
    from lmlab.common.params import Params
    from lmlab.data.dataset_readers.dataset_reader import DatasetReader
    from lmlab.data.vocabulary import Vocabulary

    _register_clock_callback()

    def run_cli(argv: List[str]) -> None:
        """`lmlab ARGV` in this process; its log and output are shown only if it fails."""
        output = io.StringIO()
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            code = main(argv)
        if code != 0:
            raise SystemExit(f"lmlab {argv[0]} failed with exit code {code}:\n{output.getvalue()[-3000:]}")

    config = Params.from_file(args.config).as_dict()
    reader_config = config["dataset_reader"]
    if reader_config.get("type") != "contiguous_language_modeling" or not reader_config.get("num_streams"):
        raise SystemExit(f"{args.config}: expected a contiguous_language_modeling reader with num_streams")
    streams, bptt = reader_config["num_streams"], reader_config.get("bptt", 35)

    # the vocabulary of the whole training file, built once (like the hand loop's dictionary)
    vocab_dir = Path(workdir) / "vocabulary"
    reader = DatasetReader.from_params(Params(dict(reader_config), "dataset_reader"))
    Vocabulary.from_instances(reader.read(str(Path(full_data) / "train.txt"))).save_to_files(str(vocab_dir))

    base = {"vocabulary": {"type": "from_files", "directory": str(vocab_dir)},
            "validation_data_path": None, "test_data_path": None, "evaluate_on_test": False,
            "trainer": {"progress_bar": False, "checkpoint_every_n_batches": None, "cuda_device": -1,
                        "callbacks": [{"type": "time_to_quality_clock"}]}}

    def train(run: str, overrides: Dict[str, Any]) -> Dict[str, Any]:
        merged = json.loads(json.dumps(base))
        for key, value in overrides.items():
            section, _, name = key.partition(".")
            merged.setdefault(section, {})[name] = value
        run_cli(["train", args.config, "-s", run, "-o", json.dumps(merged)])
        return json.loads((Path(run) / "metrics.json").read_text())

    # one epoch of exactly N batches (continuing into the next pass over the data if N is more than one),
    # so that the config's learning-rate schedule spans the whole run
    def calibrate(batches: int) -> float:
        """Training seconds of a run of `batches` batches (warm-up and the first batches included)."""
        metrics = train(str(Path(workdir) / f"calibration_{batches}"),
                        {"data_loader.batches_per_epoch": batches, "trainer.num_epochs": 1,
                         "trainer.learning_rate_scheduler": None})
        return batches * streams * bptt / metrics["training_tokens_per_second"]

    # the difference of a short and a longer run: the steady cost of one batch, without the fixed start-up
    # cost (the first batches of a run are much slower, which made a single short run overestimate it 1.6x)
    seconds_per_batch = (calibrate(CALIBRATION_BATCHES[1]) - calibrate(CALIBRATION_BATCHES[0])) / (
        CALIBRATION_BATCHES[1] - CALIBRATION_BATCHES[0])
    batches = max(1, int(args.minutes * 60 / seconds_per_batch))
    budget = {"data_loader.batches_per_epoch": batches, "trainer.num_epochs": 1}
    _CLOCK.update(started=started, finished=finished)
    run = str(Path(workdir) / "run")
    metrics = train(run, budget)
    _CLOCK.pop("started"), _CLOCK.pop("finished")
    evaluation = Path(workdir) / "evaluation.json"
    run_cli(["evaluate", str(Path(run) / "model.tar.gz"), str(Path(data_dir) / "valid.txt"),
             "--output-file", str(evaluation)])
    results.put({"side": "lmlab", "perplexity": json.loads(evaluation.read_text())["perplexity"],
                 "seconds": _CLOCK["seconds"], "tokens_per_second": metrics["training_tokens_per_second"],
                 "batches": batches, "epochs": batches * streams * bptt / count_tokens(Path(data_dir) / "train.txt"),
                 "calibration_seconds_per_batch": seconds_per_batch})


# --------------------------------------------------------------------------------------------------
# The hand-written loop (PyTorch's word_language_model example, defaults)

def hand_process(data_dir: str, full_data: str, started: Any, finished: Any, results: Any) -> None:
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
    lr, best, trained_seconds, tokens = 20.0, None, 0.0, 0
    done = False
    while not done:
        model.train()
        hidden = zeros(batch_size)
        epoch_start = time.perf_counter()
        for i in range(0, train_data.size(0) - 1, bptt):
            if finished.is_set():
                done = True
                break
            hidden = step(model, i, hidden, lr)
            tokens += min(bptt, train_data.size(0) - 1 - i) * batch_size
        trained_seconds += time.perf_counter() - epoch_start
        if not done:  # end of a full epoch: the example validates and anneals (not counted as training)
            validation = evaluate(model, valid_data)
            if best is None or validation < best:
                best = validation
            else:
                lr /= 4.0
            done = finished.is_set()
    results.put({"side": "hand", "perplexity": math.exp(evaluate(model, valid_data)), "seconds": trained_seconds,
                 "tokens_per_second": tokens / max(trained_seconds, 1e-9),
                 "epochs": tokens / (train_data.numel() - batch_size)})


# --------------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="training time of each side")
    parser.add_argument("--config", default=str(ROOT / "configs" / "lm" / "wikitext2_fast.jsonnet"))
    parser.add_argument("--data", default=DEFAULT_DATA, help="folder with WikiText-2 train/valid/test.txt")
    parser.add_argument("--max-train-tokens", type=int, default=None, help="cut train.txt (quick checks)")
    parser.add_argument("--max-valid-tokens", type=int, default=None, help="cut valid.txt and test.txt")
    args = parser.parse_args()
    import torch

    context = multiprocessing.get_context("spawn")
    started, finished, results = context.Event(), context.Event(), context.Queue()
    with tempfile.TemporaryDirectory(prefix="time_to_quality_") as workdir:
        data_dir = str(cut_files(Path(args.data), Path(workdir) / "data", args.max_train_tokens,
                                 args.max_valid_tokens))
        processes = [
            context.Process(target=lmlab_process,
                            args=(args, data_dir, args.data, workdir, started, finished, results)),
            context.Process(target=hand_process, args=(data_dir, args.data, started, finished, results)),
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
            except Exception:  # queue.Empty: keep waiting
                continue
        for process in processes:
            process.join()
    by_side = {row["side"]: row for row in rows}
    lmlab, hand = by_side["lmlab"], by_side["hand"]
    print(f"torch {torch.__version__}, 1 intra-op thread per side, device cpu, {os.cpu_count()} cores; "
          f"data {args.data}" + (" (cut)" if args.max_train_tokens or args.max_valid_tokens else ""))
    print(f"lmlab: {Path(args.config).relative_to(ROOT) if Path(args.config).is_relative_to(ROOT) else args.config}, "
          f"{lmlab['batches']} batches planned ({lmlab['calibration_seconds_per_batch'] * 1e3:.0f} ms/batch "
          f"in calibration)")
    print(f"{'':>28} | {'valid ppl':>9} | {'train s':>7} | {'tokens/s':>8} | epochs")
    print(f"{'-' * 28}-+-{'-' * 9}-+-{'-' * 7}-+-{'-' * 8}-+-------")
    for name, row in (("lmlab wikitext2_fast", lmlab), ("hand word_language_model", hand)):
        print(f"{name:>28} | {row['perplexity']:>9.2f} | {row['seconds']:>7.1f} | {row['tokens_per_second']:>8.0f} | "
              f"{row['epochs']:.2f}")
    print(f"ratio lmlab / hand validation perplexity: {lmlab['perplexity'] / hand['perplexity']:.3f} "
          f"(target <= 0.5)")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
