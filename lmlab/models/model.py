"""`Model`: the base class of everything the `Trainer` trains and a `Predictor` serves.

Contract
    - Constructor arguments come from the `model` block of the config; `vocab` is injected at run time.
    - `forward(**batch)` takes the fields of a batch by name (`Batch.as_tensor_dict()`), and returns a
      dict of tensors. It contains `"loss"` (a scalar to minimise) whenever the batch has what the loss
      needs; the trainer requires it, prediction does not.
    - `get_metrics(reset)` returns Python floats accumulated since the last reset.
    - `make_output_human_readable(output_dict)` turns ids into strings for prediction output.
    Archiving (`lmlab.models.archival`) saves `state_dict()`: any state that must survive a checkpoint
    (e.g. a carried RNN state) lives in module state (`get_extra_state`).
"""
from typing import Any, Dict, Optional

import torch

from lmlab.common.registrable import Registrable
from lmlab.data.vocabulary import Vocabulary
from lmlab.modules.regularizers import RegularizerApplicator


class Model(torch.nn.Module, Registrable):
    """Base class of lmlab models; see the module docstring for the contract."""

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

    def get_regularization_penalty(self) -> Optional[torch.Tensor]:
        return None if self._regularizer is None else self._regularizer(self)

    def device(self) -> torch.device:  # type: ignore[override]
        return next(self.parameters()).device
