"""Training-step time of a bidirectional LM with the full softmax vs the sampled softmax.

    python benchmarks/softmax_throughput.py [--vocab-sizes 33278 250000] [--steps 5] [--warmup 1] [--threads N]
                                            [--device cpu|cuda] [--num-samples 8192]

Workload (the WikiText-2 bidirectional LM shape): batch 20 x bptt 35, an input embedding of 256,
`bidirectional_lm_lstm` with 2 layers of 512 cells projected to 256 per direction, and a loss over
both directions (next token for the forward half, previous token for the backward half: 2 x 700 rows
per step). Token ids are synthetic and Zipf-distributed (log-uniform, like a frequency-sorted
vocabulary), V = 33,278 (WikiText-2's vocabulary with padding and OOV) and a synthetic V = 250,000.

One step = forward + backward + optimizer step. The full softmax trains its dense (V, 256) matrix with
Adam; the sampled softmax (`sparse=True`, 8,192 samples without replacement) trains its output rows
with SparseAdam. The input embedding is sparse (SparseAdam) in both runs, so the two runs differ only
in the softmax. LSTM weights use Adam. Warm-up steps are discarded; CUDA is synchronised before every
clock read. The table reports the median step time (robust to a busy machine); nothing here is
asserted (see STYLE.md, benchmarks).
"""
import argparse
import math
import statistics
import time
from typing import Dict, List

import torch

from lmlab.modules.seq2seq_encoders import BidirectionalLmLstm
from lmlab.modules.softmax_losses import FullSoftmaxLoss, SampledSoftmaxLoss, SoftmaxLoss
from lmlab.modules.token_embedders import Embedding


class BidirectionalLm(torch.nn.Module):
    """Embedding -> bidirectional_lm_lstm -> a softmax loss for each direction (summed NLL)."""

    def __init__(self, vocab_size: int, loss: SoftmaxLoss, args: argparse.Namespace) -> None:
        super().__init__()
        self.embedding = Embedding(args.embedding_dim, num_embeddings=vocab_size, sparse=True)
        self.encoder = BidirectionalLmLstm(args.embedding_dim, args.hidden_size, num_layers=args.num_layers,
                                           projection_dim=args.projection_dim)
        self.loss = loss
        self.half = self.encoder.get_output_dim() // 2

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        inputs, next_ids, previous_ids = ids[:, 1:-1], ids[:, 2:], ids[:, :-2]  # (B, T) each
        mask = torch.ones_like(inputs, dtype=torch.bool)  # (B, T): no padding in LM windows
        hidden = self.encoder(self.embedding(inputs), mask)  # (B, T, 2H)
        forward_half = hidden[..., :self.half].reshape(-1, self.half)  # (B*T, H)
        backward_half = hidden[..., self.half:].reshape(-1, self.half)  # (B*T, H)
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


def time_steps(vocab_size: int, sampled: bool, args: argparse.Namespace, device: torch.device) -> float:
    """Median seconds per training step over `args.steps` steps, after `args.warmup` discarded steps."""
    torch.manual_seed(0)
    loss = (SampledSoftmaxLoss(vocab_size, args.projection_dim, args.num_samples, sparse=True) if sampled
            else FullSoftmaxLoss(vocab_size, args.projection_dim))
    model = BidirectionalLm(vocab_size, loss, args).to(device).train()
    steps = optimizers(model, args.lr)
    generator = torch.Generator().manual_seed(1)
    batches = [zipf_ids(vocab_size, [args.batch_size, args.bptt + 2], generator).to(device)
               for _ in range(args.warmup + args.steps)]

    def synchronize() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    times = []
    for index, ids in enumerate(batches):
        synchronize()
        start = time.perf_counter()
        for optimizer in steps:
            optimizer.zero_grad(set_to_none=True)
        model(ids).backward()
        for optimizer in steps:
            optimizer.step()
        synchronize()
        if index >= args.warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


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
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    rows: List[Dict[str, float]] = []
    for vocab_size in args.vocab_sizes:
        full = time_steps(vocab_size, sampled=False, args=args, device=device)
        sampled = time_steps(vocab_size, sampled=True, args=args, device=device)
        rows.append({"V": vocab_size, "full": full, "sampled": sampled})

    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device_name}")
    print(f"batch {args.batch_size} x bptt {args.bptt}, bidirectional_lm_lstm {args.num_layers} x {args.hidden_size} "
          f"-> {args.projection_dim}, {args.num_samples} samples, "
          f"median of {args.steps} steps after {args.warmup} warm-up")
    print(f"{'V':>9} | {'full softmax (ms/step)':>22} | {'sampled softmax (ms/step)':>25} | {'speed-up':>8}")
    print(f"{'-' * 9}-+-{'-' * 22}-+-{'-' * 25}-+-{'-' * 8}")
    for row in rows:
        print(f"{row['V']:>9,} | {row['full'] * 1e3:>22.1f} | {row['sampled'] * 1e3:>25.1f} | "
              f"{row['full'] / row['sampled']:>7.1f}x")


if __name__ == "__main__":
    main()
