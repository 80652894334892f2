"""Cost of a tagger's contextual features (its language_model_token_embedder): FLOPs per token and tokens/s.

Run it on a tagger archive before and after `lmlab prune` (the first archive is the reference of the ratios):

    python benchmarks/contextual_features.py runs/conll2000_ldnet/model.tar.gz runs/conll2000_pruned/model.tar.gz \
        --data ../shared/data/conll2000/test.txt

FLOPs are counted from the layer shapes (a multiply-add is 2 FLOPs): per token, an LSTM layer reading I columns
with H cells costs 2 * 4H * (I + H), a GRU 2 * 3H * (I + H), the projection 2 * D * P; embedding lookups and
element-wise work are not counted (as LD-Net counts). Tokens/s times the embedder alone (both LMs and the
projection) over the data file in batches, in inference mode, as the median of alternating rounds.
"""
import argparse
import json
import statistics
import time
from typing import Dict, List, Tuple

import torch

from lmlab.commands.list import import_builtin_components
from lmlab.data.batch import Batch
from lmlab.models.archival import load_archive
from lmlab.modules.seq2seq_encoders.rnn_stack import RnnLayer
from lmlab.modules.token_embedders.language_model_token_embedder import LanguageModelTokenEmbedder

GATES_PER_UNIT = {"lstm": 4, "gru": 3}


def flops_per_token(embedder: LanguageModelTokenEmbedder) -> int:
    """FLOPs of the recurrent layers of the LMs ("basic_rnn", "dense_rnn", "ld_rnn") and of the projection."""
    layers = [module for module in embedder.modules() if isinstance(module, RnnLayer)]
    total = sum(2 * GATES_PER_UNIT[layer.unit] * layer.hidden_size * (layer.input_size + layer.hidden_size)
                for layer in layers)
    if embedder.projection is not None:
        total += 2 * embedder.projection.in_features * embedder.projection.out_features
    return total


def feature_batches(archive_path: str, data: str, batch_size: int,
                    cuda_device: int) -> Tuple[LanguageModelTokenEmbedder, List]:
    """The archive's LM-feature embedder and the (ids, number of tokens) batches of `data` it reads, on
    `cuda_device` (-1: the CPU)."""
    archive = load_archive(archive_path, cuda_device=cuda_device)
    model = archive.model
    # a text field embedder keeps each token embedder under the name of the indexer it reads
    embedders = [(path.rpartition(".")[2], module) for path, module in model.named_modules()
                 if isinstance(module, LanguageModelTokenEmbedder)]
    if len(embedders) != 1:
        raise SystemExit(f"{archive_path}: expected one language_model_token_embedder, found {len(embedders)}")
    (name, embedder), = embedders
    instances = list(archive.validation_dataset_reader.read(data))
    instances.sort(key=len)  # batches of similar lengths, as a bucketing loader makes them
    batches = []
    for start in range(0, len(instances), batch_size):
        batch = Batch(instances[start:start + batch_size])
        batch.index_instances(model.vocab)
        ids = batch.as_tensor_dict()["tokens"][name]["tokens"]
        batches.append((ids.to(model.device()), int((ids != 0).sum())))
    return embedder, batches


def seconds(embedder: LanguageModelTokenEmbedder, batches: List) -> float:
    start = time.perf_counter()
    with torch.inference_mode():
        for ids, _ in batches:
            embedder(ids)
    if torch.cuda.is_available():  # kernels run asynchronously: wait for the last one
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archives", nargs="+", help="tagger archives; the first is the reference")
    parser.add_argument("--data", required=True, help="a CoNLL file read with each archive's validation reader")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed passes over the data (median)")
    parser.add_argument("--cuda-device", type=int, default=-1, help="-1 for CPU (default), k for GPU k")
    parser.add_argument("--json", help="also write {archive: {kept_layers, flops_per_token, tokens_per_second}} here")
    args = parser.parse_args()
    import_builtin_components()
    runs: Dict[str, Tuple[LanguageModelTokenEmbedder, List]] = {
        path: feature_batches(path, args.data, args.batch_size, args.cuda_device) for path in args.archives}
    for embedder, batches in runs.values():
        embedder.eval()
        seconds(embedder, batches[:2])  # warm-up, discarded
    timings: Dict[str, List[float]] = {path: [] for path in args.archives}
    for _ in range(args.rounds):
        for path, (embedder, batches) in runs.items():
            timings[path].append(seconds(embedder, batches))
    device = torch.cuda.get_device_name(args.cuda_device) if args.cuda_device >= 0 else "cpu"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {device}, batch size {args.batch_size}")
    print(f"{'archive':<50} {'kept layers':<24} {'FLOPs/token':>12} {'tokens/s':>10} {'FLOPs ratio':>12} "
          f"{'speed-up':>9}")
    reference = args.archives[0]
    base_flops = flops_per_token(runs[reference][0])
    base_speed = sum(n for _, n in runs[reference][1]) / statistics.median(timings[reference])
    rows = {}
    for path, (embedder, batches) in runs.items():
        flops = flops_per_token(embedder)
        speed = sum(n for _, n in batches) / statistics.median(timings[path])
        rows[path] = {"kept_layers": embedder.kept_layers(), "flops_per_token": flops, "tokens_per_second": speed}
        print(f"{path[-50:]:<50} {str(embedder.kept_layers()):<24} {flops:>12,} {speed:>10.0f} "
              f"{base_flops / flops:>11.1f}x {speed / base_speed:>8.1f}x")
    if args.json:
        with open(args.json, "w") as stream:
            json.dump(rows, stream, indent=2)


if __name__ == "__main__":
    main()
