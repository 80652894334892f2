"""ELMo biLM throughput: sentences/s for the tiny fixture model and a full-size (original ELMo) model.

Run by hand:  python benchmarks/elmo_throughput.py [--device cpu|cuda] [--num-sentences 2000]

The sentences are random lowercase "words" (1-12 letters), 5-40 tokens each, seeded. Each model embeds
them in batches (default 32) with a **stateless** biLM (`stateful=False`: every batch starts from zero
states, as when embedding a corpus in arbitrary order; the stateful bookkeeping costs one small copy per
batch either way). Timed: character ids, host-to-device copy and the biLM forward under
`torch.inference_mode()`; the first two batches are a warm-up and are run again in the timed pass.
The full-size model has the published ELMo sizes (char CNN 2048 filters, 2 highways, 2 LSTM layers of
4096 cells projected to 512 per direction) and random weights, which this script writes to a temporary
hdf5 file in the bilm-tf layout. There is no baseline in this table (AllenNLP is not installed here).
"""
import argparse
import json
import os
import random
import string
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

import numpy
import torch

from lmlab.modules.elmo import ElmoBiLm, batch_to_ids

FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "elmo"

FULL_SIZE_OPTIONS = {
    "lstm": {
        "cell_clip": 3,
        "use_skip_connections": True,
        "n_layers": 2,
        "proj_clip": 3,
        "projection_dim": 512,
        "dim": 4096,
    },
    "char_cnn": {
        "embedding": {"dim": 16},
        "filters": [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512], [7, 1024]],
        "n_highway": 2,
        "n_characters": 262,
        "max_characters_per_token": 50,
        "activation": "relu",
    },
}


def random_sentences(count: int, seed: int = 13) -> List[List[str]]:
    rng = random.Random(seed)
    return [
        ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(1, 12))) for _ in range(rng.randint(5, 40))]
        for _ in range(count)
    ]


def write_random_weights(options: dict, path: str, seed: int = 0) -> None:
    """Random weights in exactly the bilm-tf hdf5 layout (README section 3) for `options`."""
    import h5py

    rng = numpy.random.default_rng(seed)

    def normal(shape, std):
        return (rng.standard_normal(shape, dtype=numpy.float32) * std).astype(numpy.float32)

    cnn, lstm = options["char_cnn"], options["lstm"]
    embedding_dim, filters = cnn["embedding"]["dim"], cnn["filters"]
    num_filters = sum(count for _, count in filters)
    projection, cell = lstm["projection_dim"], lstm["dim"]
    with h5py.File(path, "w") as handle:
        handle["char_embed"] = normal((cnn["n_characters"] - 1, embedding_dim), 1.0)
        for k, (width, count) in enumerate(filters):
            handle[f"CNN/W_cnn_{k}"] = normal((1, width, embedding_dim, count), (width * embedding_dim) ** -0.5)
            handle[f"CNN/b_cnn_{k}"] = numpy.zeros(count, numpy.float32)
        for k in range(cnn["n_highway"]):
            for name in ("W_transform", "W_carry"):
                handle[f"CNN_high_{k}/{name}"] = normal((num_filters, num_filters), num_filters**-0.5)
            handle[f"CNN_high_{k}/b_transform"] = numpy.zeros(num_filters, numpy.float32)
            handle[f"CNN_high_{k}/b_carry"] = numpy.full(num_filters, -2.0, numpy.float32)
        handle["CNN_proj/W_proj"] = normal((num_filters, projection), num_filters**-0.5)
        handle["CNN_proj/b_proj"] = numpy.zeros(projection, numpy.float32)
        for direction in range(2):
            for layer in range(lstm["n_layers"]):
                prefix = f"RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"
                handle[f"{prefix}/W_0"] = normal((2 * projection, 4 * cell), (2 * projection) ** -0.5)
                handle[f"{prefix}/B"] = numpy.zeros(4 * cell, numpy.float32)
                handle[f"{prefix}/W_P_0"] = normal((cell, projection), cell**-0.5)


def throughput(bilm: ElmoBiLm, sentences: List[List[str]], batch_size: int, device: torch.device) -> Tuple[float, int]:
    """Seconds to embed all `sentences` (after a two-batch warm-up), and the number of tokens."""
    batches = [sentences[i : i + batch_size] for i in range(0, len(sentences), batch_size)]

    def run(selected):
        for batch in selected:
            output = bilm(batch_to_ids(batch).to(device))
        return output

    with torch.inference_mode():
        run(batches[:2])
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        run(batches)
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
    return elapsed, sum(len(s) for s in sentences)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--num-sentences", type=int, default=2000)
    parser.add_argument("--full-size-sentences", type=int, default=None, help="default: --num-sentences")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--skip-full-size", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)

    rows = []
    if FIXTURES.is_dir():
        bilm = ElmoBiLm(str(FIXTURES / "options.json"), str(FIXTURES / "lm_weights.hdf5"), stateful=False)
        rows.append(("fixture (P=16, C=64)", bilm.to(device).eval(), args.num_sentences))
    else:
        print(f"skipping the fixture model: {FIXTURES} not found")

    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_full_size:
            options_file, weight_file = os.path.join(tmp, "options.json"), os.path.join(tmp, "weights.hdf5")
            with open(options_file, "w") as handle:
                json.dump(FULL_SIZE_OPTIONS, handle)
            write_random_weights(FULL_SIZE_OPTIONS, weight_file)
            bilm = ElmoBiLm(options_file, weight_file, stateful=False)
            count = args.full_size_sentences or args.num_sentences
            rows.append(("full size (P=512, C=4096)", bilm.to(device).eval(), count))

        print(f"torch {torch.__version__}  threads {torch.get_num_threads()}  device {device}  "
              f"batch {args.batch_size}  mode stateless")
        print(f"{'model':<28}{'params':>9}{'sentences':>11}{'tokens':>9}{'seconds':>9}{'sent/s':>10}{'tok/s':>10}")
        for name, bilm, count in rows:
            sentences = random_sentences(count)
            seconds, tokens = throughput(bilm, sentences, args.batch_size, device)
            params = sum(p.numel() for p in bilm.parameters()) / 1e6
            print(f"{name:<28}{params:>8.1f}M{count:>11}{tokens:>9}{seconds:>9.2f}"
                  f"{count / seconds:>10.1f}{tokens / seconds:>10.0f}")


if __name__ == "__main__":
    main()
