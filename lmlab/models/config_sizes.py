"""Sizes that a model's blocks must agree on, checked from their configs alone (`check_arguments`).

A model built from a config already refuses an encoder whose input size is not what its text field
embedder gives; these checks say the same at `lmlab check` time, whenever the configs give both sizes
(an embedder whose size depends on run-time values, or an encoder without a size argument, is left to
the model's constructor).
"""
from typing import Any, Dict, Iterator, Optional

from lmlab.common.errors import ConfigurationError
from lmlab.modules.seq2seq_encoders import Seq2SeqEncoder
from lmlab.modules.text_field_embedders import TextFieldEmbedder


def encoder_reads_embedder(text_field_embedder: Dict[str, Any], encoder: Optional[Dict[str, Any]],
                           encoder_key: str) -> Iterator[ConfigurationError]:
    """A problem at `encoder_key`.<its input size argument> when the filled `encoder` config's input size is
    not the output size of the filled `text_field_embedder` config, both known from the configs."""
    if encoder is None:
        return
    key = Seq2SeqEncoder.implementation_of(encoder).input_dim_key
    embedded = TextFieldEmbedder.implementation_of(text_field_embedder).output_dim_from_config(text_field_embedder)
    if key is not None and embedded is not None and encoder.get(key, embedded) != embedded:
        yield ConfigurationError(f"expected the text_field_embedder's output size {embedded}, found {encoder[key]}",
                                 f"{encoder_key}.{key}")
