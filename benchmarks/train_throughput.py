"""Training throughput: the lmlab Trainer vs a minimal hand-written PyTorch loop, same model, same data.

    python benchmarks/train_throughput.py [--batches 200] [--repeats 2] [--device cpu|cuda]

Builds the WikiText-2 LSTM config (configs/lm/wikitext2_lstm.jsonnet; WIKITEXT2_DIR or ../shared) through
lmlab, trains it for a fixed number of batches with `GradientDescentTrainer`, then trains the same
architecture written by hand (nn.Embedding -> nn.LSTM -> dropout -> nn.Linear, batchified stream,
truncated BPTT with detached state, SGD + clipping) on the same token ids in the same process.
Runs alternate (lmlab, hand, lmlab, hand, ...) after a warm-up; medians and bests are reported
(this machine is noisy: compare medians).
Prints tokens/s for both and their ratio (target: lmlab >= 0.95 x the hand-written loop).
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lmlab.common.params import Params  # noqa: E402
from lmlab.common.util import resolve_device  # noqa: E402


def lmlab_run(config: Params, batches: int, device: str, workdir: Path) -> float:
    """tokens/s of the lmlab trainer over `batches` training batches (inner loop, no validation), with the
    vocabulary of the whole training file (saved in `workdir/vocabulary`), as the hand loop has."""
    from lmlab.training.experiment import train_model

    overrides = {"vocabulary": {"type": "from_files", "directory": str(workdir / "vocabulary")},
                 "trainer": {"num_epochs": 1, "checkpoint_every_n_batches": None, "progress_bar": False,
                             "cuda_device": 0 if device == "cuda" else -1, "learning_rate_scheduler": None},
                 "dataset_reader": {"max_instances": batches * 20}, "validation_data_path": None,
                 "test_data_path": None, "evaluate_on_test": False}
    from lmlab.common.params import merge_overrides

    params = Params(merge_overrides(config.as_dict(), overrides))
    directory = workdir / f"run{time.perf_counter_ns()}"
    start = time.perf_counter()
    train_model(params, str(directory))
    total = time.perf_counter() - start
    import json

    metrics = json.loads((directory / "metrics.json").read_text())
    return metrics["training_tokens_per_second"], total


def hand_run(ids: torch.Tensor, vocab_size: int, batches: int, device: torch.device) -> float:
    """tokens/s of a minimal PyTorch word_language_model-style loop on the same stream."""
    torch.manual_seed(0)
    bptt, batch_size, dim = 35, 20, 200

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(vocab_size, dim)
            self.lstm = torch.nn.LSTM(dim, dim, num_layers=2, dropout=0.2, batch_first=True)
            self.dropout = torch.nn.Dropout(0.2)
            self.decoder = torch.nn.Linear(dim, vocab_size)

        def forward(self, x, hidden):
            output, hidden = self.lstm(self.embedding(x), hidden)
            return self.decoder(self.dropout(output)), hidden

    model = Model().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=20.0)
    n = ids.numel() // batch_size
    data = ids[: n * batch_size].view(batch_size, n).to(device)  # (B, N): row b is stream b
    hidden = None
    tokens = 0
    start = time.perf_counter()
    for k in range(batches):
        i = k * bptt
        if i + 1 >= n:
            break
        length = min(bptt, n - 1 - i)
        # contiguous copies: a strided index tensor sends embedding + LSTM down a path ~5x slower
        x, y = data[:, i:i + length].contiguous(), data[:, i + 1:i + 1 + length].contiguous()
        if hidden is not None:
            hidden = tuple(h.detach() for h in hidden)
        optimizer.zero_grad(set_to_none=True)
        logits, hidden = model(x, hidden)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab_size), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        optimizer.step()
        tokens += y.numel()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return tokens / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--config", default=str(ROOT / "configs" / "lm" / "wikitext2_lstm.jsonnet"))
    args = parser.parse_args()
    import lmlab.commands.list as listing

    listing.import_builtin_components()
    config = Params.from_file(args.config)
    device = resolve_device(0 if args.device == "cuda" else -1)

    # the hand loop trains on exactly the ids lmlab's vocabulary gives the same stream
    from lmlab.data.dataset_readers.dataset_reader import DatasetReader
    from lmlab.data.vocabulary import Vocabulary

    reader = DatasetReader.from_params(config.duplicate().pop("dataset_reader"))
    train_path = config.get("train_data_path")
    vocab = Vocabulary.from_instances(reader.read(train_path))
    tokens = []
    with open(train_path, encoding="utf-8") as stream:
        for line in stream:
            tokens.extend(line.split() + ["<eos>"])
    ids = torch.as_tensor(vocab.get_token_indices(tokens, "tokens"), dtype=torch.long)
    vocab_size = vocab.get_vocab_size("tokens")

    results = {"lmlab": [], "hand": []}
    with tempfile.TemporaryDirectory() as scratch:
        vocab.save_to_files(str(Path(scratch) / "vocabulary"))
        lmlab_run(config, 10, args.device, Path(scratch))  # warm-up (allocators, kernels, page cache)
        hand_run(ids, vocab_size, 10, device)
        for _ in range(args.repeats):
            results["lmlab"].append(lmlab_run(config, args.batches, args.device, Path(scratch)))
            results["hand"].append(hand_run(ids, vocab_size, args.batches, device))
    import statistics

    lmlab_rates = [r[0] for r in results["lmlab"]]
    hand_rates = results["hand"]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {device}, "
          f"vocab {vocab_size}, {args.batches} batches x 20 x 35, repeats {args.repeats} (alternating)")
    print(f"{'loop':<8}{'median tok/s':>14}{'best tok/s':>12}   all runs")
    for name, rates in (("lmlab", lmlab_rates), ("hand", hand_rates)):
        print(f"{name:<8}{statistics.median(rates):>14.0f}{max(rates):>12.0f}   {[round(r) for r in rates]}")
    print(f"ratio lmlab/hand: median {statistics.median(lmlab_rates) / statistics.median(hand_rates):.3f}, "
          f"best {max(lmlab_rates) / max(hand_rates):.3f}   "
          f"(lmlab wall incl. data, vocabulary, archive: {[round(r[1], 1) for r in results['lmlab']]} s)")

if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    main()
