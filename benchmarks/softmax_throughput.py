"""Training-step time of a bidirectional LM with the full softmax vs the sampled and the adaptive softmax.

    python benchmarks/softmax_throughput.py [--vocab-sizes 33278 250000] [--steps 5] [--warmup 1] [--threads N]
                                            [--device cpu|cuda] [--num-samples 8192] [--cutoffs 2000 10000 50000]
                                            [--quality-steps 0] [--data DIR] [--quality-valid-tokens N]

Workload (the WikiText-2 bidirectional LM shape): batch 20 x bptt 35, an input embedding of 256,
`bidirectional_lm_lstm` with 2 layers of 512 cells projected to 256 per direction, and a loss over
both directions (next token for the forward half, previous token for the backward half: 2 x 700 rows
per step). Token ids are synthetic and Zipf-distributed (log-uniform, like a frequency-sorted
vocabulary), V = 33,278 (WikiText-2's vocabulary with padding and OOV) and a synthetic V = 250,000.

One step = forward + backward + optimizer step. The full softmax trains its dense (V, 256) matrix with
Adam; the sampled softmax (`sparse=True`, 8,192 samples without replacement) trains its output rows
with SparseAdam; the adaptive softmax (`--cutoffs` below V, default 2,000 / 10,000 / 50,000, div_value
4) trains its head and tails with Adam. The input embedding is sparse (SparseAdam) in every run, so the
runs differ only in the softmax. LSTM weights use Adam. Warm-up steps are discarded; CUDA is
synchronised before every clock read. The table reports the median step time (robust to a busy
machine); nothing here is asserted (see STYLE.md, benchmarks). Target: the adaptive softmax >= 3x
faster than the full softmax at V = 33,278. A second table times the softmax layer alone (its forward,
backward and optimizer step on fixed hidden vectors, as many rows as one step gives it): the whole step
also pays for the embedding and the 2 x 512 projected LSTMs, the same for every softmax, which bounds the
whole-step ratio (at V = 33,278 the LSTMs are most of the adaptive softmax's step).

Quality (`--quality-steps N`, off by default): the same model is trained for N steps on WikiText-2
(lmlab's frequency-sorted vocabulary of train.txt, 20 contiguous streams, windows of 35), once with the
full and once with the adaptive softmax, from the same seed, and the exact validation perplexity of both
directions on valid.txt (`--quality-valid-tokens` to cut it) is printed with the ratio (target: the
adaptive softmax's <= 1.1 x the full softmax's).
"""
import argparse
import math
import os
import statistics
import time
from pathlib import Path
from typing import Dict, List, Optional

import torch

from lmlab.data.dataset_readers import ContiguousLanguageModelingReader
from lmlab.data.vocabulary import Vocabulary
from lmlab.modules.seq2seq_encoders import BidirectionalLmLstm
from lmlab.modules.softmax_losses import AdaptiveSoftmaxLoss, FullSoftmaxLoss, SampledSoftmaxLoss, SoftmaxLoss
from lmlab.modules.token_embedders import Embedding

ROOT = Path(__file__).resolve().parents[1]


class BidirectionalLm(torch.nn.Module):
    """Embedding -> bidirectional_lm_lstm -> a softmax loss for each direction (summed NLL)."""

    def __init__(self, vocab_size: int, loss: SoftmaxLoss, args: argparse.Namespace) -> None:
        super().__init__()
        self.embedding = Embedding(args.embedding_dim, num_embeddings=vocab_size, sparse=True)
        self.encoder = BidirectionalLmLstm(args.embedding_dim, args.hidden_size, num_layers=args.num_layers,
                                           projection_dim=args.projection_dim)
        self.loss = loss
        self.direction_dim = self.encoder.get_output_dim() // 2

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        inputs, next_ids, previous_ids = ids[:, 1:-1], ids[:, 2:], ids[:, :-2]  # (B, T) each
        mask = torch.ones_like(inputs, dtype=torch.bool)  # (B, T): no padding in LM windows
        hidden = self.encoder(self.embedding(inputs), mask)  # (B, T, 2H)
        forward_half = hidden[..., :self.direction_dim].reshape(-1, self.direction_dim)  # (B*T, H)
        backward_half = hidden[..., self.direction_dim:].reshape(-1, self.direction_dim)  # (B*T, H)
        return self.loss(forward_half, next_ids.reshape(-1)) + self.loss(backward_half, previous_ids.reshape(-1))


def zipf_ids(vocab_size: int, shape: List[int], generator: torch.Generator) -> torch.Tensor:
    """Log-uniform ids in [2, V): id 2 most frequent (0 is padding, 1 OOV)."""
    u = torch.rand(shape, generator=generator, dtype=torch.float64)
    ids = torch.floor(torch.exp(u * math.log(vocab_size - 1))).long() + 1  # [1, V - 1]
    return ids.clamp(min=2, max=vocab_size - 1)


def optimizers(model: BidirectionalLm, lr: float) -> List[torch.optim.Optimizer]:
    sparse = [model.embedding.weight]
    if isinstance(model.loss, SampledSoftmaxLoss):
        sparse += [model.loss.weight, model.loss.bias]
    sparse_ids = {id(p) for p in sparse}
    dense = [p for p in model.parameters() if id(p) not in sparse_ids]
    return [torch.optim.SparseAdam(sparse, lr=lr), torch.optim.Adam(dense, lr=lr)]


def make_loss(kind: str, vocab_size: int, args: argparse.Namespace) -> SoftmaxLoss:
    if kind == "sampled":
        return SampledSoftmaxLoss(vocab_size, args.projection_dim, args.num_samples, sparse=True)
    if kind == "adaptive":
        return AdaptiveSoftmaxLoss(vocab_size, args.projection_dim, [c for c in args.cutoffs if c < vocab_size])
    return FullSoftmaxLoss(vocab_size, args.projection_dim)


def train_steps(model: BidirectionalLm, batches: List[torch.Tensor], args: argparse.Namespace,
                device: torch.device) -> List[float]:
    """Seconds of each training step (forward, backward, optimizer step), one batch each."""
    steps = optimizers(model, args.lr)

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    times = []
    model.train()
    for ids in batches:
        synchronize()
        start = time.perf_counter()
        for optimizer in steps:
            optimizer.zero_grad(set_to_none=True)
        model(ids).backward()
        for optimizer in steps:
            optimizer.step()
        synchronize()
        times.append(time.perf_counter() - start)
    return times


def time_steps(vocab_size: int, kind: str, args: argparse.Namespace, device: torch.device) -> float:
    """Median seconds per training step over `args.steps` steps, after `args.warmup` discarded steps."""
    torch.manual_seed(0)
    model = BidirectionalLm(vocab_size, make_loss(kind, vocab_size, args), args).to(device)
    generator = torch.Generator().manual_seed(1)
    batches = [zipf_ids(vocab_size, [args.batch_size, args.bptt + 2], generator).to(device)
               for _ in range(args.warmup + args.steps)]
    return statistics.median(train_steps(model, batches, args, device)[args.warmup:])


def time_layer(vocab_size: int, kind: str, args: argparse.Namespace, device: torch.device) -> float:
    """Median seconds of the softmax layer's own step: forward, backward and its optimizer step on fixed
    (2 x B x T, projection_dim) hidden vectors, the rows one bidirectional step feeds it."""
    torch.manual_seed(0)
    loss = make_loss(kind, vocab_size, args).to(device)
    sparse = [loss.weight, loss.bias] if isinstance(loss, SampledSoftmaxLoss) else []
    sparse_ids = {id(p) for p in sparse}
    dense = [p for p in loss.parameters() if id(p) not in sparse_ids]
    steps = ([torch.optim.SparseAdam(sparse, lr=args.lr)] if sparse else []) + \
        ([torch.optim.Adam(dense, lr=args.lr)] if dense else [])
    generator = torch.Generator().manual_seed(1)
    rows = 2 * args.batch_size * args.bptt
    hidden = torch.randn(rows, args.projection_dim, generator=generator).to(device).requires_grad_()
    targets = zipf_ids(vocab_size, [rows], generator).to(device)
    times = []
    for _ in range(args.warmup + args.steps):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        for optimizer in steps:
            optimizer.zero_grad(set_to_none=True)
        loss(hidden, targets).backward()
        for optimizer in steps:
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times[args.warmup:])


def wikitext_windows(path: Path, vocab: Vocabulary, streams: int, length: int,
                     max_tokens: Optional[int] = None) -> List[torch.Tensor]:
    """(streams, length + 2) id windows of a file read as one stream (<eos> after each line), cut into
    `streams` contiguous streams; consecutive windows overlap by 2 so every token is predicted once in
    each direction except at the stream ends."""
    with open(path, encoding="utf-8") as lines:  # as the contiguous reader's defaults: whitespace, <eos>
        tokens = [token for line in lines for token in line.split() + ["<eos>"]]
    tokens = tokens[:max_tokens] if max_tokens else tokens
    ids = torch.as_tensor(vocab.get_token_indices(tokens), dtype=torch.long)
    per_stream = ids.numel() // streams
    columns = ids[:per_stream * streams].view(streams, per_stream)  # (B, n): row j is stream j
    return [columns[:, start:start + length + 2] for start in range(0, per_stream - length - 1, length)]


def quality(args: argparse.Namespace, device: torch.device) -> Dict[str, float]:
    """Validation perplexity after `args.quality_steps` training steps, full vs adaptive softmax."""
    data = Path(args.data)
    reader = ContiguousLanguageModelingReader(bptt=args.bptt, num_streams=args.batch_size)
    vocab = Vocabulary.from_instances(reader.read(str(data / "train.txt")))  # frequency sorted
    vocab_size = vocab.get_vocab_size()
    train = wikitext_windows(data / "train.txt", vocab, args.batch_size, args.bptt)
    valid = wikitext_windows(data / "valid.txt", vocab, 10, args.bptt, args.quality_valid_tokens)
    batches = [train[k % len(train)].to(device) for k in range(args.quality_steps)]
    result: Dict[str, float] = {"V": vocab_size}
    for kind in ("full", "adaptive"):
        torch.manual_seed(0)
        model = BidirectionalLm(vocab_size, make_loss(kind, vocab_size, args), args).to(device)
        train_steps(model, batches, args, device)
        model.eval()
        with torch.no_grad():
            total = sum(float(model(ids.to(device))) for ids in valid)  # summed NLL of both directions
        count = sum(2 * ids[:, 2:].numel() for ids in valid)
        result[kind] = math.exp(total / count)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--vocab-sizes", type=int, nargs="+", default=[33278, 250000])
    parser.add_argument("--num-samples", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--bptt", type=int, default=35)
    parser.add_argument("--embedding-dim", type=int, default=256)
    parser.add_argument("--hidden-size", type=int, default=512)
    parser.add_argument("--projection-dim", type=int, default=256)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--steps", type=int, default=5, help="timed steps")
    parser.add_argument("--warmup", type=int, default=1, help="discarded steps")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's)")
    parser.add_argument("--cutoffs", type=int, nargs="+", default=[2000, 10000, 50000],
                        help="adaptive softmax cutoffs (those >= V are dropped)")
    parser.add_argument("--quality-steps", type=int, default=0, help="train this many steps on WikiText-2 and "
                        "compare validation perplexities (0: timing only)")
    parser.add_argument("--data", default=os.environ.get("WIKITEXT2_DIR", str(ROOT.parent / "shared" / "data"
                                                                             / "wikitext-2")))
    parser.add_argument("--quality-valid-tokens", type=int, default=None, help="cut valid.txt to this many tokens")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    rows: List[Dict[str, float]] = []
    for vocab_size in args.vocab_sizes:
        rows.append({"V": vocab_size, **{kind: time_steps(vocab_size, kind, args, device)
                                         for kind in ("full", "sampled", "adaptive")},
                     **{f"{kind}_layer": time_layer(vocab_size, kind, args, device)
                        for kind in ("full", "sampled", "adaptive")}})

    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device_name}")
    print(f"batch {args.batch_size} x bptt {args.bptt}, bidirectional_lm_lstm {args.num_layers} x {args.hidden_size} "
          f"-> {args.projection_dim}, {args.num_samples} samples, adaptive cutoffs {args.cutoffs} (< V), "
          f"median of {args.steps} steps after {args.warmup} warm-up")
    print(f"{'V':>9} | {'full (ms/step)':>14} | {'sampled (ms/step)':>17} | {'speed-up':>8} | "
          f"{'adaptive (ms/step)':>18} | {'speed-up':>8}")
    print(f"{'-' * 9}-+-{'-' * 14}-+-{'-' * 17}-+-{'-' * 8}-+-{'-' * 18}-+-{'-' * 8}")
    for row in rows:
        print(f"{row['V']:>9,} | {row['full'] * 1e3:>14.1f} | {row['sampled'] * 1e3:>17.1f} | "
              f"{row['full'] / row['sampled']:>7.1f}x | {row['adaptive'] * 1e3:>18.1f} | "
              f"{row['full'] / row['adaptive']:>7.1f}x")
    print("the softmax layer's own step (the same rows as fixed hidden vectors; forward, backward, its optimizer):")
    for row in rows:
        print(f"{row['V']:>9,} | {row['full_layer'] * 1e3:>14.1f} | {row['sampled_layer'] * 1e3:>17.1f} | "
              f"{row['full_layer'] / row['sampled_layer']:>7.1f}x | {row['adaptive_layer'] * 1e3:>18.1f} | "
              f"{row['full_layer'] / row['adaptive_layer']:>7.1f}x")
    if args.quality_steps:
        result = quality(args, device)
        print(f"quality after {args.quality_steps} steps on WikiText-2 (V = {result['V']:,}): validation perplexity "
              f"full {result['full']:.1f}, adaptive {result['adaptive']:.1f}, "
              f"ratio {result['adaptive'] / result['full']:.3f} (target <= 1.1)")


if __name__ == "__main__":
    main()
