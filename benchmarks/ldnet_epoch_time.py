"""Training time of a CoNLL-2000 tagger epoch with LD-Net LM features against the same tagger without them, with
and without the LM feature cache (`feature_cache_mb`); issue 20's target is LD-Net (cached) / no LM <= 1.3.

    python benchmarks/ldnet_epoch_time.py [--sentences 1000] [--rounds 3] [--threads 1]

The taggers are configs/ldnet/conll2000_tagger.jsonnet and conll2000_tagger_ldnet.jsonnet (its cached variant sets
`feature_cache_mb`), trained on the first N training sentences in the configs' batches with Adam: an epoch is
forward, backward and step over every batch. The LMs are LDNET_FORWARD_LM / LDNET_BACKWARD_LM when set, else
untrained LMs of configs/ldnet/wikitext2_ldnet_*.jsonnet's shape (6 LD-Net LSTM layers of 128 on a 200-wide
embedding: the cost is the shape's, whatever the weights), written to a temporary folder. One epoch of each tagger
first (it fills the cache), then the three alternate for `rounds` epochs; the table gives median seconds per epoch
and the ratio to the no-LM tagger. Run it on an otherwise quiet machine.
"""
import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import torch

from lmlab.commands.list import import_builtin_components
from lmlab.common.params import Params
from lmlab.data import DatasetReader, Vocabulary
from lmlab.data.data_loaders import DataLoader
from lmlab.models import Model, archive_model
from lmlab.training.experiment import build_data_loader

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs" / "ldnet"
CACHE_KEY = "model.text_field_embedder.token_embedders.lm_tokens.feature_cache_mb"


def untrained_ldnet_lm(path: Path, words: List[str], reverse: bool) -> Path:
    """An LD-Net LM archive of wikitext2_ldnet_forward.jsonnet's shape, random weights, knowing `words`."""
    config = Params.from_file(str(CONFIGS / "wikitext2_ldnet_forward.jsonnet")).as_dict()
    config["dataset_reader"]["reverse"] = reverse
    vocab = Vocabulary(counter={"tokens": {word: 1 for word in words}})
    model = Model.from_params(Params(config["model"], "model"), vocab=vocab)
    reader = DatasetReader.from_params(Params(config["dataset_reader"], "dataset_reader"))
    return archive_model(path.parent, config, model, reader, archive_path=path)


class Tagger:
    """A tagger of `config` with its training loader and an Adam optimizer; `epoch()` trains one epoch."""

    def __init__(self, config: Path, overrides: Dict) -> None:
        filled = Params.from_file(str(config), json.dumps(overrides)).as_dict()
        reader = DatasetReader.from_params(Params(filled["dataset_reader"], "dataset_reader"))
        self.loader: DataLoader = build_data_loader(filled["data_loader"], reader, filled["train_data_path"])
        vocab = Vocabulary.from_instances([self.loader])
        self.loader.index_with(vocab)
        torch.manual_seed(0)
        self.model = Model.from_params(Params(filled["model"], "model"), vocab=vocab)
        self.optimizer = torch.optim.Adam([p for p in self.model.parameters() if p.requires_grad], lr=0.002)
        self.epochs = 0

    def epoch(self) -> float:
        self.model.train()
        start = time.perf_counter()
        for batch in self.loader.iter_epoch(self.epochs):
            self.optimizer.zero_grad(set_to_none=True)
            self.model(**batch)["loss"].backward()
            self.optimizer.step()
        self.epochs += 1
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache-mb", type=int, default=2048)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import_builtin_components()
    with tempfile.TemporaryDirectory() as scratch:
        if "LDNET_FORWARD_LM" not in os.environ:
            tagger = Params.from_file(str(CONFIGS / "conll2000_tagger.jsonnet")).as_dict()
            words = sorted({line.split()[0] for line in Path(tagger["train_data_path"]).read_text().splitlines()
                            if line.strip()} | {"<eos>"})
            os.environ["LDNET_FORWARD_LM"] = str(untrained_ldnet_lm(Path(scratch) / "f.tar.gz", words, False))
            os.environ["LDNET_BACKWARD_LM"] = str(untrained_ldnet_lm(Path(scratch) / "b.tar.gz", words, True))
        data = {"dataset_reader.max_instances": args.sentences}
        taggers = {"no LM features": Tagger(CONFIGS / "conll2000_tagger.jsonnet", data),
                   "LD-Net features": Tagger(CONFIGS / "conll2000_tagger_ldnet.jsonnet", {**data, CACHE_KEY: 0}),
                   "LD-Net features, cached": Tagger(CONFIGS / "conll2000_tagger_ldnet.jsonnet",
                                                     {**data, CACHE_KEY: args.cache_mb})}
        first = {name: tagger.epoch() for name, tagger in taggers.items()}  # the cached one fills its cache
        times: Dict[str, List[float]] = {name: [] for name in taggers}
        for _ in range(args.rounds):
            for name, tagger in taggers.items():
                times[name].append(tagger.epoch())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), CPU ({platform.processor() or 'cpu'}); "
          f"{args.sentences} CoNLL-2000 training sentences; median of {args.rounds} alternating epochs")
    base = statistics.median(times["no LM features"])
    print(f"{'tagger':<26}{'first epoch s':>14}{'epoch s':>10}{'ratio':>8}")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"{name:<26}{first[name]:>14.2f}{median:>10.2f}{median / base:>8.2f}")


if __name__ == "__main__":
    main()
