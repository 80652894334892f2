"""`prune_tagger`: everything `lmlab prune` does, from a trained LD-Net tagger to a smaller archived one.

LD-Net's "pruning without retraining" (Liu et al., EMNLP 2018): the tagger keeps training on its own data
while the gates of its frozen language models' layers are trained with `LayerSelection`'s sparsity
objective and clipped into [0, 1] after every step (the "clip_gates" callback); the kept checkpoint is
the one with the best validation F1 among those using at most `budget` layers. Then every layer whose
gate is 0 is deleted, with the input columns that read it, which leaves the tagger's outputs unchanged.

The run goes through the one run lifecycle (`lmlab.training.experiment.run_experiment`): the whole config
is checked before anything is read or written, and the run is prepared, trained, pruned and archived in a
staging folder that replaces the run folder only at the end, so a prune that fails at any step (a
mistyped override, a budget never met) leaves a previous run byte-identical.
"""
import logging
from typing import Any, Dict, List, Optional, Tuple

from lmlab.common.archive_format import extracted_archive, read_config
from lmlab.common.errors import ConfigurationError
from lmlab.common.params import Params, evaluate_jsonnet, merge_overrides
from lmlab.data.data_loaders import DataLoader
from lmlab.models.archival import load_archive
from lmlab.models.crf_tagger import CrfTagger
from lmlab.models.model import Model
from lmlab.training.evaluation import evaluate_model
from lmlab.training.experiment import RunRecipe, check_config, run_experiment
from lmlab.training.learning_rate_schedulers import LearningRateScheduler

logger = logging.getLogger(__name__)

SELECTION_METRIC = "f1-measure-within-budget"
"""What the kept checkpoint maximises (a `crf_tagger` metric with `layer_selection`)."""


def prune_tagger(archive_file: str, serialization_dir: str, overrides: str = "", force: bool = False,
                 cuda_device: Optional[int] = None) -> Dict[str, Any]:
    """Select layers of the LMs of a `crf_tagger` archive, delete the others, write `model.tar.gz`.

    `overrides` (JSON/Jsonnet) are merged into the archived config and must set `model.layer_selection`
    (e.g. `{"model.layer_selection": {"budget": 2}}`); they may change anything else of the run too
    (epochs, optimizer, data). See `selection_config` for what the trainer is made to do. Returns the
    metrics: the trainer's, plus `gated_validation_*` and `pruned_validation_*` (the best checkpoint before
    and after deleting its layers: equal, by construction), `kept_layers` and, with the config's
    `evaluate_on_test`, `test_*` of the pruned tagger. Raises `ConfigurationError` (every problem of the
    config at once, before anything is read or written; or, after training, when no validated checkpoint
    got within the budget), and then leaves no new folder and any previous run as it was.
    """
    with extracted_archive(archive_file) as root:
        archived = read_config(root)
    override_dict = evaluate_jsonnet(snippet=overrides) if overrides else {}
    config, errors = selection_config(archived, override_dict)
    try:
        checked = check_config(Params(config), cuda_device)
    except ConfigurationError as err:
        raise ConfigurationError.combine([*errors, err]) from None
    if errors:
        raise ConfigurationError.combine(errors)
    _, metrics = run_experiment(checked, serialization_dir, _LayerSelectionRecipe(archive_file), force=force)
    return metrics


def selection_config(archived: Dict[str, Any],
                     overrides: Dict[str, Any]) -> Tuple[Dict[str, Any], List[ConfigurationError]]:
    """The run config of a prune: the archived tagger's config with `overrides`, set up for layer selection,
    and the problems found (located config errors).

    The trainer keeps the best `+f1-measure-within-budget` and clips the gates after every batch. That
    metric is 0 until the gates are within the budget, so anything that acts on it before then would act on
    nothing: `trainer.patience` (an early stop), and a learning-rate schedule that reads the validation
    metric (`reduce_on_plateau`). Inherited from the tagger's config, they are dropped (logged); set by
    `overrides`, they are refused.
    """
    config = merge_overrides(archived, overrides)
    inherited: Dict[str, Any] = archived.get("trainer") or {}
    trainer: Dict[str, Any] = dict(config.get("trainer") or {})
    errors: List[ConfigurationError] = []
    model = config.get("model") or {}
    if model.get("type") != "crf_tagger":
        errors.append(ConfigurationError(f'lmlab prune works on crf_tagger archives, found {model.get("type")!r}',
                                         "model.type"))
    elif model.get("layer_selection") is None:
        errors.append(ConfigurationError('set it with --overrides, e.g. \'{"model.layer_selection": {"budget": 2}}\'',
                                         "model.layer_selection"))
    if not config.get("validation_data_path"):
        errors.append(ConfigurationError("layer selection keeps the best validation F1 within budget: set it",
                                         "validation_data_path"))
    why = f"reads the validation {SELECTION_METRIC}, which is 0 until the budget is met"
    if trainer.get("patience") is not None:
        if trainer["patience"] == inherited.get("patience"):
            logger.info("lmlab prune: the tagger's trainer.patience (%s) is dropped: it %s", trainer["patience"], why)
            trainer["patience"] = None
        else:
            errors.append(ConfigurationError(f"early stopping {why}, so it would stop before the gates close; "
                                             "set it to null", "trainer.patience"))
    scheduler = trainer.get("learning_rate_scheduler")
    if isinstance(scheduler, dict) and _reads_validation_metric(scheduler):
        if scheduler == inherited.get("learning_rate_scheduler"):
            logger.info("lmlab prune: the tagger's %s learning-rate schedule is dropped: it %s", scheduler["type"],
                        why)
            trainer["learning_rate_scheduler"] = None
        else:
            errors.append(ConfigurationError(f'"{scheduler["type"]}" {why}, so it would lower the learning rate '
                                             "before the gates close; use a schedule by epoch (e.g. \"inverse_time\") "
                                             "or null", "trainer.learning_rate_scheduler"))
    callbacks = list(trainer.get("callbacks") or [])
    if not any(isinstance(callback, dict) and callback.get("type") == "clip_gates" for callback in callbacks):
        callbacks.append({"type": "clip_gates"})
    trainer.update(callbacks=callbacks, validation_metric=f"+{SELECTION_METRIC}")
    return {**config, "trainer": trainer}, errors


def _reads_validation_metric(scheduler: Dict[str, Any]) -> bool:
    name = scheduler.get("type")
    if not isinstance(name, str):
        return False  # check_config reports it
    try:
        implementation, _ = LearningRateScheduler.resolve_class_name(name)
    except ConfigurationError:
        return False  # an unknown name: check_config reports it, with its suggestions
    return issubclass(implementation, LearningRateScheduler) and implementation.reads_validation_metric(scheduler)


class _LayerSelectionRecipe(RunRecipe):
    """The archived tagger, trained with layer selection; afterwards its closed layers are deleted."""

    recoverable = False

    def __init__(self, archive_file: str) -> None:
        self.archive_file = archive_file

    def initial_model(self, config: Dict[str, Any]) -> Optional[Model]:
        # the archived weights in the checked model config (the archived one with the overrides)
        model = load_archive(self.archive_file, {"model": config["model"]}).model
        assert isinstance(model, CrfTagger)  # checked by selection_config
        return model

    def finish(self, model: Model, loaders: Dict[str, DataLoader],
               config: Dict[str, Any]) -> Tuple[Dict[str, Any], Dict[str, Any]]:
        assert isinstance(model, CrfTagger) and model.layer_selection is not None
        budget = model.layer_selection.budget
        gated = evaluate_model(model, loaders["validation"], model.device(), progress_bar=False)
        if gated["active_layers"] > budget:
            # an archive of the unpruned tagger would pass for a pruned one
            raise ConfigurationError(f"no validated checkpoint used at most {budget} layers (the kept one uses "
                                     f"{int(gated['active_layers'])}); train longer (trainer.num_epochs) or raise "
                                     "model.layer_selection.strength. Nothing was written",
                                     "model.layer_selection.budget")
        model.prune()
        pruned = evaluate_model(model, loaders["validation"], model.device(), progress_bar=False)
        metrics: Dict[str, Any] = {f"gated_validation_{k}": v for k, v in gated.items()}
        metrics.update({f"pruned_validation_{k}": v for k, v in pruned.items()})
        metrics["kept_layers"] = model.kept_layers()
        # the pruned tagger trains no gates any more: its config is the tagger's, without layer selection
        return merge_overrides(config, {"model": {"layer_selection": None}}), metrics

