"""Test helpers that need models: tiny language-model archives built in a second, without training.

For lmlab's tests and for plugin authors' (it lives with the models because it builds and archives one).
"""
from pathlib import Path
from typing import Any, Dict, Iterable, Union

import torch

from lmlab.common.from_params import to_params
from lmlab.common.params import Params
from lmlab.data.dataset_readers.dataset_reader import DatasetReader
from lmlab.data.vocabulary import Vocabulary
from lmlab.models.archival import archive_model
from lmlab.models.model import Model


def write_language_model_archive(path: Union[str, Path], words: Iterable[str], reverse: bool = False,
                                 contextualizer: str = "ld_rnn", num_layers: int = 3, seed: int = 0) -> Path:
    """An untrained (randomly initialised, seeded) word-level "language_model" archive at `path`.

    Its vocabulary holds `words`; its contextualizer is `contextualizer` ("ld_rnn", "dense_rnn" or
    "basic_rnn": embedding 8, hidden 6, `num_layers` layers); its reader is a contiguous one, reading the
    stream backwards when `reverse` (a backward LM). Returns `path`.
    """
    path = Path(path)
    vocab = Vocabulary(counter={"tokens": {word: 1 for word in words}})
    config: Dict[str, Any] = {
        "dataset_reader": {"type": "contiguous_language_modeling", "bptt": 8, "reverse": reverse},
        "model": {"type": "language_model",
                  "text_field_embedder": {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 8}}},
                  "contextualizer": {"type": contextualizer, "input_size": 8, "hidden_size": 6,
                                     "num_layers": num_layers}},
        "train_data_path": "unused.txt",
    }
    torch.manual_seed(seed)
    model = Model.from_params(Params(config["model"], "model"), vocab=vocab)
    reader = DatasetReader.from_params(Params(config["dataset_reader"], "dataset_reader"))
    filled = {**config, "model": to_params(model), "dataset_reader": to_params(reader)}
    return archive_model(path.parent, filled, model, archive_path=path)
