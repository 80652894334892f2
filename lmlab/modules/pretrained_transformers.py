"""Building Hugging Face models for lmlab's pretrained-transformer modules (`lmlab[transformers]`)."""
from typing import Any, Tuple

import torch

from lmlab.common.errors import ConfigurationError
from lmlab.common.pretrained_transformers import import_transformers, load_config, load_tokenizer

MODEL_KINDS = ("base", "masked_lm", "causal_lm")
"""What `load_model` builds: `AutoModel`, `AutoModelForMaskedLM` or `AutoModelForCausalLM`."""


def load_model(model_name: str, kind: str, load_weights: bool = True) -> Any:
    """The model of `kind` (see `MODEL_KINDS`) from `model_name`, in float32.

    `load_weights` False builds the architecture from the folder's config alone, with random weights (an
    archive's model: its weights come from the archive). A folder or architecture that cannot be loaded
    as `kind` is a ConfigurationError at "model_name".
    """
    transformers = import_transformers()
    auto = {"base": transformers.AutoModel, "masked_lm": transformers.AutoModelForMaskedLM,
            "causal_lm": transformers.AutoModelForCausalLM}[kind]
    logging = transformers.utils.logging
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # no load report for a head's unused weights or BERT's unused pooler
    try:
        if load_weights:
            return auto.from_pretrained(model_name, dtype=torch.float32)
        return auto.from_config(load_config(model_name), dtype=torch.float32)
    except (OSError, ValueError, KeyError) as err:  # run time: what is at model_name
        raise ConfigurationError(f'cannot load "{model_name}" as {auto.__name__}: {str(err).splitlines()[0]}',
                                 "model_name") from err
    finally:
        logging.set_verbosity(verbosity)


def special_token_counts(model_name: str) -> Tuple[int, int]:
    """(S, E): how many special tokens the model's tokenizer puts before and after a text's pieces."""
    tokenizer = load_tokenizer(model_name)
    bare = tokenizer("a", add_special_tokens=False)["input_ids"]
    framed = tokenizer("a")["input_ids"]
    for start in range(len(framed) - len(bare) + 1):
        if framed[start:start + len(bare)] == bare:
            return start, len(framed) - start - len(bare)
    # run time: the model's tokenizer
    raise ConfigurationError(f'cannot tell where the tokenizer of "{model_name}" puts its special tokens',
                             "model_name")


class HiddenStatesInput(torch.nn.Module):
    """Stands in for a task model's encoder (its `base_model_prefix` attribute): returns the hidden states it
    is given as `inputs_embeds` as that encoder's output. The task model's forward then runs only what comes
    after its encoder, its output layer, whatever the family (BERT's `cls`, RoBERTa's `lm_head`, GPT-2's
    `lm_head`, ...).

    Inputs
        inputs_embeds: (B, T, H) float (other arguments of the encoder's signature are ignored).
    Outputs
        a transformers `BaseModelOutputWithPastAndCrossAttentions` whose `last_hidden_state` is
        `inputs_embeds`.
    """

    def forward(self, *args: Any, inputs_embeds: torch.Tensor, **kwargs: Any) -> Any:
        from transformers.modeling_outputs import BaseModelOutputWithPastAndCrossAttentions

        return BaseModelOutputWithPastAndCrossAttentions(last_hidden_state=inputs_embeds)
