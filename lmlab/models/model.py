"""`Model`: the base class of everything the `Trainer` trains and a `Predictor` serves.

Contract
    - Constructor arguments come from the `model` block of the config; `vocab` is injected at run time.
    - `forward(**batch)` takes the fields of a batch by name (`Batch.as_tensor_dict()`), and returns a
      dict of tensors. It contains `"loss"` (a scalar to minimise) whenever the batch has what the loss
      needs; the trainer requires it, prediction does not.
    - `get_metrics(reset)` returns Python floats accumulated since the last reset.
    - `make_output_human_readable(output_dict)` turns ids into strings for prediction output.
    - `reset_states()` forgets state carried from one batch to the next (none by default); the trainer
      calls it at the start of every epoch and around evaluation, predictors before every batch.
    - `default_predictor` names the `Predictor` that `lmlab predict` uses unless told otherwise.
    - `metric_state()` / `load_metric_state(state)` save and restore the running state of the model's
      metrics, which training checkpoints hold so that a resumed epoch's metrics cover the whole epoch.
    - `all_reduce_metrics()` sums the metrics' running totals over the processes of a distributed run
      (`Metric.all_reduce`), so that the next `get_metrics` covers every process's data.
    Archiving (`lmlab.models.archival`) saves `state_dict()`: any state that must survive a checkpoint
    (e.g. a carried RNN state) lives in module state (`get_extra_state`).
"""
from typing import Any, Dict, Optional

import torch

from lmlab.common.registrable import Registrable
from lmlab.data.vocabulary import Vocabulary
from lmlab.modules.metrics import Metric
from lmlab.modules.regularizers import RegularizerApplicator


class Model(torch.nn.Module, Registrable):
    """Base class of lmlab models; see the module docstring for the contract."""

    default_predictor: Optional[str] = None

    def __init__(self, vocab: Vocabulary, regularizer: Optional[RegularizerApplicator] = None) -> None:
        super().__init__()
        self.vocab = vocab
        self._regularizer = regularizer

    def forward(self, *inputs: Any, **kwargs: Any) -> Dict[str, Any]:
        raise NotImplementedError

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        return {}

    def make_output_human_readable(self, output_dict: Dict[str, Any]) -> Dict[str, Any]:
        return output_dict

    def reset_states(self) -> None:
        """Forget any state carried across batches (e.g. an RNN's hidden state); a no-op by default."""

    def metric_state(self) -> Dict[str, Any]:
        """`Metric.state_dict()` of every metric held as an attribute of this model or of its submodules,
        by dotted attribute path. A model keeping metrics elsewhere (in a dict, say) overrides this and
        `load_metric_state`."""
        return {name: metric.state_dict() for name, metric in self._named_metrics().items()}

    def load_metric_state(self, state: Dict[str, Any]) -> None:
        """Restore a `metric_state()` of a model of the same class."""
        metrics = self._named_metrics()
        if set(state) != set(metrics):
            raise ValueError(f"{type(self).__name__}: metric state has {sorted(state)}, expected {sorted(metrics)}")
        for name, metric in metrics.items():
            metric.load_state_dict(state[name])

    def all_reduce_metrics(self) -> None:
        """`Metric.all_reduce()` for every metric of `metric_state()` (a no-op in a single process)."""
        for metric in self._named_metrics().values():
            metric.all_reduce()

    def _named_metrics(self) -> Dict[str, Metric]:
        return {f"{prefix}.{name}" if prefix else name: value for prefix, module in self.named_modules()
                for name, value in vars(module).items() if isinstance(value, Metric)}

    def get_regularization_penalty(self) -> Optional[torch.Tensor]:
        return None if self._regularizer is None else self._regularizer(self)

    def device(self) -> torch.device:
        return next(self.parameters()).device
