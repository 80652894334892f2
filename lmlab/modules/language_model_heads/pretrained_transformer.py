"""`pretrained_transformer` (also `bert`, `gpt2`): the output layer of a pretrained masked or causal LM."""
from typing import Optional

import torch
from overrides import overrides

from lmlab.common.pretrained_transformers import import_transformers, load_config
from lmlab.modules.language_model_heads.language_model_head import LanguageModelHead
from lmlab.modules.pretrained_transformers import HiddenStatesInput, load_model


@LanguageModelHead.register("gpt2", constructor="causal_lm")
@LanguageModelHead.register("bert", constructor="masked_lm")
@LanguageModelHead.register("pretrained_transformer")
class PretrainedTransformerLanguageModelHead(LanguageModelHead):
    """The part of an `AutoModelForMaskedLM` or `AutoModelForCausalLM` after its encoder: hidden vectors in,
    the model's vocabulary logits out (BERT's `cls` transform and decoder, RoBERTa's `lm_head`, GPT-2's
    tied `lm_head`, ...), for any family that loads with those classes.

    Registered as a `LanguageModelHead` with names "pretrained_transformer", "bert" (a masked LM's head) and
    "gpt2" (a causal LM's head), AllenNLP's names. Needs `lmlab[transformers]`.

    Parameters
        model_name: str               the model folder (or hub name).
        causal: Optional[bool] = None the causal LM's head; false: the masked LM's; None: the masked LM's if
                                      the architecture has one, else the causal LM's.
        load_weights: bool = True     false: random weights (archives set it; theirs come from the archive).
    Inputs
        hidden: (..., H) float, the encoder's top-layer output (`AutoModel`'s `last_hidden_state`).
    Outputs
        (..., V) float logits, V the model's vocabulary size (`config.vocab_size`).
    Notes
        The task model is loaded whole and its encoder replaced by a stand-in that returns the hidden states
        it is given (`HiddenStatesInput`), so the logits are exactly the task model's. `tie_weights(weight)`
        makes `weight` (V, H) the output embedding matrix, as the pretrained model ties it to its input one.
    """

    def __init__(self, model_name: str, causal: Optional[bool] = None, load_weights: bool = True) -> None:
        super().__init__()
        if causal is None:
            config = load_config(model_name)
            causal = type(config) not in import_transformers().MODEL_FOR_MASKED_LM_MAPPING
        self.model_name = model_name
        self.causal = causal
        model = load_model(model_name, "causal_lm" if causal else "masked_lm", load_weights)
        output = model.get_output_embeddings()
        self._output_name = next(name for name, module in model.named_modules() if module is output)
        setattr(model, model.base_model_prefix, HiddenStatesInput())  # drop the encoder: the input is its output
        self.head_model = model
        self.input_dim = int(model.config.hidden_size)
        self.output_dim = int(model.config.vocab_size)

    @classmethod
    def masked_lm(cls, model_name: str, load_weights: bool = True) -> "PretrainedTransformerLanguageModelHead":
        """The "bert" registration: a masked LM's head."""
        return cls(model_name, causal=False, load_weights=load_weights)

    @classmethod
    def causal_lm(cls, model_name: str, load_weights: bool = True) -> "PretrainedTransformerLanguageModelHead":
        """The "gpt2" registration: a causal LM's head."""
        return cls(model_name, causal=True, load_weights=load_weights)

    @overrides
    def tie_weights(self, weight: torch.nn.Parameter) -> None:
        """Use `weight` (V, H) as the output embedding matrix."""
        output = self.head_model.get_submodule(self._output_name)
        if tuple(weight.shape) != tuple(output.weight.shape):
            raise ValueError(f"cannot tie the head's weight of shape {tuple(output.weight.shape)} (V, H) to a "
                             f"weight of shape {tuple(weight.shape)}")
        output.weight = weight

    @overrides
    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        flat = hidden.reshape(1, -1, hidden.shape[-1])  # (1, N, H): the task model takes (B, T, H)
        logits = self.head_model(inputs_embeds=flat).logits  # (1, N, V)
        return logits.reshape(*hidden.shape[:-1], logits.shape[-1])  # (..., V)

    def extra_repr(self) -> str:
        return f"model_name={self.model_name!r}, causal={self.causal}"
