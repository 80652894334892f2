"""ELMo representations: learned scalar mixes of a biLM's layers (Peters et al., 2018)."""
import logging
from typing import Any, Dict, List, Optional, Tuple

import torch

from lmlab.common.constraints import Probability
from lmlab.common.errors import ConfigurationError
from lmlab.modules.elmo.bilm import BiLm, ElmoBiLm
from lmlab.modules.elmo.character_encoder import remove_sentence_boundaries
from lmlab.modules.scalar_mix import ScalarMix

logger = logging.getLogger(__name__)


class Elmo(torch.nn.Module):
    """`num_output_representations` ELMo vectors per token, each its own scalar mix of the biLM layers.

    The biLM runs once per batch; each output representation has its own `ScalarMix` (for example one
    for a model's input layer and one for a later layer), followed by dropout. Not registered here;
    a token embedder wraps it.

    Parameters
        options_file: Optional[str]     bilm-tf `options.json`; None only together with `module`.
        weight_file: Optional[str]      bilm-tf hdf5 weights; None only with `module`, or to get a
                                        randomly initialised biLM (a warning is logged).
        num_output_representations: int   R, how many differently mixed outputs to return.
        requires_grad: bool = False     fine-tune the biLM (ignored with `module`).
        do_layer_norm: bool = False     layer-normalise each biLM layer inside the mixes.
        dropout: float = 0.5            applied to every output representation.
        vocab_to_cache: Optional[List[str]] = None
                                        precompute the character CNN for these words; `forward` then takes
                                        word ids `word_inputs` (id 0 = padding, see `ElmoBiLm`).
        keep_sentence_boundaries: bool = False
                                        keep the `<S>`/`</S>` positions: outputs have T + 2 positions.
        scalar_mix_parameters: Optional[List[float]] = None
                                        fixed, untrainable pre-softmax mixing weights (one per biLM layer),
                                        e.g. `[-9e10, 1, -9e10]` selects the first LSTM layer.
        module: Optional[BiLm] = None   a biLM to use instead of the pretrained one (see `BiLm`).
    Inputs
        inputs: (B, T, 50) or (B, N, T, 50) int64 character ids (`batch_to_ids`);
        word_inputs: optional (B, T) or (B, N, T) int64 ids into `vocab_to_cache`.
    Outputs
        {"elmo_representations": R tensors (B, T, D) (or (B, N, T, D); T + 2 with
         `keep_sentence_boundaries`), aligned with the input tokens, zeros at padding;
         "mask": (B, T) bool (or (B, N, T), or T + 2), True = token}.
        D = `get_output_dim()` (2P for a bilm-tf model, e.g. 1024 for the original ELMo).
    Notes
        The pretrained biLM is stateful (README section 5); pass `module=ElmoBiLm(..., stateful=False)`
        for representations that do not depend on the previous batches.
    Example
        >>> from lmlab.modules.elmo import Elmo, batch_to_ids
        >>> elmo = Elmo("fixtures/elmo/options.json", "fixtures/elmo/lm_weights.hdf5",  # bilm-tf files (tiny)
        ...             num_output_representations=2)
        >>> output = elmo(batch_to_ids([["The", "cat", "sat"], ["Dogs"]]))  # (B, T, 50) character ids
        >>> [vectors.shape for vectors in output["elmo_representations"]]  # D = 2 x projection_dim 4
        [torch.Size([2, 3, 8]), torch.Size([2, 3, 8])]
        >>> output["mask"].tolist()
        [[True, True, True], [True, False, False]]
    """

    def __init__(
        self,
        options_file: Optional[str],
        weight_file: Optional[str],
        num_output_representations: int,
        requires_grad: bool = False,
        do_layer_norm: bool = False,
        dropout: Probability = 0.5,
        vocab_to_cache: Optional[List[str]] = None,
        keep_sentence_boundaries: bool = False,
        scalar_mix_parameters: Optional[List[float]] = None,
        module: Optional[BiLm] = None,
    ) -> None:
        super().__init__()
        # run time: Elmo is not built from a config (a token embedder or `elmo_lm` builds it from Python),
        # so its arguments are checked here, when they are given
        if num_output_representations < 1:
            raise ConfigurationError(
                f"expected at least 1 output representation, found {num_output_representations}",
                "num_output_representations",
            )
        if module is not None:
            if options_file is not None or weight_file is not None:
                raise ConfigurationError(
                    "options_file and weight_file must both be None when a biLM `module` is given", "module"
                )
            if not isinstance(module, BiLm):
                raise ConfigurationError(f"expected a BiLm (e.g. ElmoBiLm), found {type(module).__name__}", "module")
            self._elmo_lstm: BiLm = module
        else:
            if options_file is None:
                raise ConfigurationError("an ELMo options file is required (or pass a biLM `module`)", "options_file")
            if weight_file is None:
                logger.warning("Elmo built without a weight file: the biLM weights are random")
            self._elmo_lstm = ElmoBiLm(
                options_file, weight_file, requires_grad=requires_grad, vocab_to_cache=vocab_to_cache
            )
        self.num_output_representations = num_output_representations
        self.keep_sentence_boundaries = keep_sentence_boundaries
        num_layers = self._elmo_lstm.num_layers
        self._dropout = torch.nn.Dropout(p=dropout)
        self.scalar_mixes = torch.nn.ModuleList(
            ScalarMix(
                num_layers,
                do_layer_norm=do_layer_norm,
                initial_scalar_parameters=scalar_mix_parameters,
                trainable=scalar_mix_parameters is None,
            )
            for _ in range(num_output_representations)
        )

    def get_output_dim(self) -> int:
        return self._elmo_lstm.get_output_dim()

    def reset_states(self) -> None:
        """Forget the biLM's carried state (see `ElmoBiLm`'s `stateful`)."""
        self._elmo_lstm.reset_states()

    def forward(self, inputs: Optional[torch.Tensor], word_inputs: Optional[torch.Tensor] = None) -> Dict[str, Any]:
        inputs, word_inputs, leading = self._flatten(inputs, word_inputs)
        if word_inputs is None:
            bilm_output = self._elmo_lstm(inputs)
        else:
            bilm_output = self._elmo_lstm(inputs, word_inputs)
        layer_activations: List[torch.Tensor] = bilm_output["activations"]  # each (B', T + 2, D)
        mask_with_boundaries = bilm_output["mask"].bool()  # (B', T + 2)

        representations = []
        for scalar_mix in self.scalar_mixes:
            mixed = scalar_mix(layer_activations, mask_with_boundaries)  # (B', T + 2, D)
            if self.keep_sentence_boundaries:
                output = mixed * mask_with_boundaries.unsqueeze(-1).to(mixed.dtype)
                mask = mask_with_boundaries
            else:
                output, mask = remove_sentence_boundaries(mixed, mask_with_boundaries)  # (B', T, D), (B', T)
            representations.append(self._dropout(output))

        if leading is not None:
            representations = [r.view(*leading, *r.shape[1:]) for r in representations]  # (B, N, T, D)
            mask = mask.view(*leading, mask.size(-1))  # (B, N, T)
        return {"elmo_representations": representations, "mask": mask}

    @staticmethod
    def _flatten(
        inputs: Optional[torch.Tensor], word_inputs: Optional[torch.Tensor]
    ) -> Tuple[Optional[torch.Tensor], Optional[torch.Tensor], Optional[Tuple[int, int]]]:
        """Fold (B, N, T, ...) inputs into (B * N, T, ...) rows; `leading` is (B, N) or None."""
        if inputs is None and word_inputs is None:
            raise ValueError("Elmo needs character ids `inputs` or word ids `word_inputs`")
        if inputs is not None and inputs.dim() not in (3, 4):
            raise ValueError(f"expected character ids (B, T, 50) or (B, N, T, 50), found {tuple(inputs.shape)}")
        if word_inputs is not None and word_inputs.dim() not in (2, 3):
            raise ValueError(f"expected word ids (B, T) or (B, N, T), found {tuple(word_inputs.shape)}")
        leading = None
        if inputs is not None and inputs.dim() == 4:
            leading = (inputs.size(0), inputs.size(1))
            inputs = inputs.reshape(-1, inputs.size(2), inputs.size(3))  # (B * N, T, 50)
        if word_inputs is not None and word_inputs.dim() == 3:
            leading = (word_inputs.size(0), word_inputs.size(1))
            word_inputs = word_inputs.reshape(-1, word_inputs.size(2))  # (B * N, T)
        return inputs, word_inputs, leading

    def extra_repr(self) -> str:
        return (
            f"num_output_representations={self.num_output_representations}, "
            f"keep_sentence_boundaries={self.keep_sentence_boundaries}"
        )
