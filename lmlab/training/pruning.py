"""`prune_tagger`: everything `lmlab prune` does, from a trained LD-Net tagger to a smaller archived one.

LD-Net's "pruning without retraining" (Liu et al., EMNLP 2018): the tagger keeps training on its own data
while the gates of its frozen language models' layers are trained with `LayerSelection`'s sparsity
objective and clipped into [0, 1] after every step (the "clip_gates" callback); the kept checkpoint is
the one with the best validation F1 among those using at most `budget` layers. Then every layer whose
gate is 0 is deleted, with the input columns that read it, which leaves the tagger's outputs unchanged.
"""
import json
import shutil
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from lmlab.common.errors import ConfigurationError
from lmlab.common.file_utils import atomic_write
from lmlab.common.params import Params, merge_overrides
from lmlab.common.util import set_seeds
from lmlab.models.archival import CONFIG_NAME, archive_model, load_archive
from lmlab.models.crf_tagger import CrfTagger
from lmlab.training.experiment import build_data_loader, evaluation_loader_config
from lmlab.training.gradient_descent_trainer import evaluate_model
from lmlab.training.trainer import Trainer

SELECTION_METRIC = "f1-measure-within-budget"
"""What the kept checkpoint maximises (a `crf_tagger` metric with `layer_selection`)."""


def prune_tagger(archive_file: str, serialization_dir: str, overrides: str = "", force: bool = False,
                 cuda_device: Optional[int] = None) -> Dict[str, Any]:
    """Select layers of the LMs of a `crf_tagger` archive, delete the others, write `model.tar.gz`.

    `overrides` (JSON/Jsonnet) are merged into the archived config and must set `model.layer_selection`
    (e.g. `{"model.layer_selection": {"budget": 2}}`); they may change anything else of the run too
    (epochs, optimizer, data). The trainer always selects by `+f1-measure-within-budget` and clips the
    gates after every step. Returns the metrics: the trainer's, plus `gated_validation_*` and
    `pruned_validation_*` (the best checkpoint before and after deleting its layers: equal, by
    construction) and `kept_layers`. Raises `ConfigurationError`, writing no archive, when no validated
    checkpoint got within the budget.
    """
    directory = Path(serialization_dir)
    archive = load_archive(archive_file, overrides or None)
    model = archive.model
    if not isinstance(model, CrfTagger):
        raise ConfigurationError(f"lmlab prune works on crf_tagger archives, found {type(model).__name__}", "model")
    selection = model.layer_selection
    if selection is None:
        raise ConfigurationError('set it with --overrides, e.g. \'{"model.layer_selection": {"budget": 2}}\'',
                                 "model.layer_selection")
    config = _selection_config(archive.config, cuda_device)
    if directory.is_dir() and any(directory.iterdir()) and not force:
        raise ConfigurationError(f"serialization directory {directory} is not empty; use --force to overwrite it")

    set_seeds(config.get("random_seed", 13370), config.get("numpy_seed", 1337), config.get("pytorch_seed", 133))
    train_loader = build_data_loader(config["data_loader"], archive.dataset_reader, config["train_data_path"])
    validation_path = config.get("validation_data_path")
    if not validation_path:
        raise ConfigurationError("layer selection keeps the best validation F1 within budget: set it",
                                 "validation_data_path")
    validation_loader = build_data_loader(evaluation_loader_config(config.get("validation_data_loader"),
                                                                   config["data_loader"]),
                                          archive.validation_dataset_reader, validation_path)
    for loader in (train_loader, validation_loader):
        loader.index_with(model.vocab)
    trainer = Trainer.from_params(Params(config["trainer"], "trainer"), model=model, data_loader=train_loader,
                                  validation_data_loader=validation_loader, serialization_dir=str(directory))
    # everything is built (the trainer writes nothing until it trains): only now is an old run replaced
    if directory.is_dir():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    with atomic_write(directory / CONFIG_NAME) as stream:
        json.dump(config, stream, indent=2)
    metrics = trainer.train()
    if (directory / "best.th").is_file():
        model.load_state_dict(torch.load(directory / "best.th", map_location="cpu", weights_only=True))
    device = model.device()
    gated = evaluate_model(model, validation_loader, device, progress_bar=False)
    if gated["active_layers"] > selection.budget:
        # an archive of the unpruned tagger would pass for a pruned one: stop, and keep the run to look at
        raise ConfigurationError(f"no validated checkpoint used at most {selection.budget} layers (the kept one "
                                 f"uses {int(gated['active_layers'])}); train longer (trainer.num_epochs) or raise "
                                 f"model.layer_selection.strength. Nothing was pruned; the run is in {directory}",
                                 "model.layer_selection.budget")
    model.prune()
    pruned = evaluate_model(model, validation_loader, device, progress_bar=False)
    metrics.update({f"gated_validation_{k}": v for k, v in gated.items()})
    metrics.update({f"pruned_validation_{k}": v for k, v in pruned.items()})
    metrics["kept_layers"] = model.kept_layers()
    # the pruned tagger trains no gates any more: its config is the tagger's, without layer selection
    archived = merge_overrides(config, {"model": {"layer_selection": None}})
    archive_model(directory, archived, model, archive.dataset_reader)
    with atomic_write(directory / "metrics.json") as stream:
        json.dump(metrics, stream, indent=2)
    return metrics


def _selection_config(config: Dict[str, Any], cuda_device: Optional[int]) -> Dict[str, Any]:
    """The archived config with the trainer set up for layer selection."""
    trainer = dict(config.get("trainer") or {})
    callbacks = list(trainer.get("callbacks") or [])
    if not any(callback.get("type") == "clip_gates" for callback in callbacks):
        callbacks.append({"type": "clip_gates"})
    trainer.update(callbacks=callbacks, validation_metric=f"+{SELECTION_METRIC}")
    if cuda_device is not None:
        trainer["cuda_device"] = cuda_device
    return {**config, "trainer": trainer}
