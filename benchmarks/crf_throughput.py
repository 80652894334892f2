"""Viterbi decoding throughput: lmlab's batched decode vs a loop that decodes one sentence at a time.

The loop is how AllenNLP's `ConditionalRandomField.viterbi_tags` decodes a batch (one Viterbi per
sentence, each trimmed to its length); here both sides use lmlab's own `viterbi_decode`, so the ratio
measures batching alone. Sentence lengths are drawn to look like CoNLL-2000 (mean ~24 tokens, 1..78),
with 23 labels (CoNLL-2000's chunk tags). Both sides convert the decoded tags to Python lists; they are
timed in alternating runs and the medians reported.

    python benchmarks/crf_throughput.py [--batch-sizes 32 128] [--batches 10] [--rounds 5] [--device cpu]
"""
import argparse
import statistics
import time
from typing import Callable, List, Tuple

import torch

from lmlab.modules.conditional_random_field import ConditionalRandomField

NUM_LABELS = 23


def conll2000_like_lengths(count: int, generator: torch.Generator) -> torch.Tensor:
    """Sentence lengths with CoNLL-2000's shape: gamma(4, scale 6) (mean 24, a sum of 4 exponentials), clipped
    to 1..78."""
    draws = torch.empty(count, 4).exponential_(1 / 6.0, generator=generator).sum(1)
    return draws.round().clamp(1, 78).long()


def batched(crf: ConditionalRandomField, logits: torch.Tensor, mask: torch.Tensor) -> List[List[int]]:
    tags, _ = crf.viterbi_decode(logits, mask)
    lengths = mask.sum(1).tolist()
    return [row[:length] for row, length in zip(tags.tolist(), lengths, strict=True)]


def per_sentence(crf: ConditionalRandomField, logits: torch.Tensor, mask: torch.Tensor) -> List[List[int]]:
    paths = []
    for row, length in enumerate(mask.sum(1).tolist()):
        tags, _ = crf.viterbi_decode(logits[row:row + 1, :length], mask[row:row + 1, :length])
        paths.append(tags[0].tolist())
    return paths


def seconds(decode: Callable, crf: ConditionalRandomField, batches: List, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for logits, mask in batches:
        decode(crf, logits, mask)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def sentences_per_second(crf: ConditionalRandomField, batches: List, device: torch.device,
                         rounds: int) -> Tuple[float, float]:
    """Median sentences/s of (batched, per-sentence) over `rounds` alternating runs (warm-up discarded)."""
    for decode in (batched, per_sentence):
        decode(crf, *batches[0])
    timings: List[List[float]] = [[], []]
    for _ in range(rounds):
        for timing, decode in zip(timings, (batched, per_sentence), strict=True):
            timing.append(seconds(decode, crf, batches, device))
    count = sum(logits.size(0) for logits, _ in batches)
    fast, slow = (count / statistics.median(timing) for timing in timings)
    return fast, slow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--batches", type=int, default=10, help="batches per timed run")
    parser.add_argument("--rounds", type=int, default=5, help="alternating timed runs per side (median)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(0)
    crf = ConditionalRandomField(NUM_LABELS).to(device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {device}, {NUM_LABELS} labels")
    print(f"{'batch':>6} {'mean len':>9} {'batched sent/s':>15} {'per-sentence sent/s':>20} {'ratio':>7}")
    with torch.inference_mode():
        for batch_size in args.batch_sizes:
            batches = []
            for _ in range(args.batches):
                lengths = conll2000_like_lengths(batch_size, generator)
                mask = (torch.arange(int(lengths.max())).unsqueeze(0) < lengths.unsqueeze(1)).to(device)
                logits = torch.randn(batch_size, mask.size(1), NUM_LABELS, generator=generator).to(device)
                batches.append((logits, mask))
            assert batched(crf, *batches[0]) == per_sentence(crf, *batches[0])  # same answers, or no comparison
            fast, slow = sentences_per_second(crf, batches, device, args.rounds)
            mean_length = sum(float(mask.sum()) for _, mask in batches) / (batch_size * len(batches))
            print(f"{batch_size:>6} {mean_length:>9.1f} {fast:>15.0f} {slow:>20.0f} {fast / slow:>6.1f}x")


if __name__ == "__main__":
    main()
