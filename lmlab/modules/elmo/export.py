"""Export an ELMo-style biLM to bilm-tf's `options.json` + hdf5 weight file (the format `ElmoBiLm` reads).

The character encoder (`ElmoCharacterEncoder`: an "elmo_character_encoder" token embedder's
`character_encoder`) and the LSTM stacks (`ElmoLstm`: an "elmo_lstm" contextualizer's `lstm`) are taken
as two arguments, so that this module needs nothing from the layers that wrap them;
`lmlab.models.elmo_lm` unwraps a trained `LanguageModel` into these two parts.

Every dataset is written in the layout of the fixture README (section 3): `char_embed` without the row
of the padding-token id 0; convolution kernels in TensorFlow conv2d layout (1, width, in, out); highway
`W_carry`/`W_transform` in row-vector (in, out) layout with the bilm-tf gate convention (which is also
how `ElmoCharacterEncoder` stores them, so nothing is negated); LSTM `W_0 = concat(x-part, h-part)` in
TensorFlow gate order [i, j, f, o]. `ElmoLstm` adds the +1 forget bias at run time and never stores it
in its biases, so `B` is written as stored; loading the export gives back bit-identical parameters.
"""
import contextlib
import json
import os
from pathlib import Path
from typing import Any, Dict, Iterator, Union

import numpy as np
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.common.file_utils import atomic_path
from lmlab.modules.elmo.bilm import ElmoBiLm, ElmoLstm
from lmlab.modules.elmo.character_encoder import ElmoCharacterEncoder
from lmlab.modules.elmo.character_ids import MAX_WORD_LENGTH

PathLike = Union[str, "os.PathLike[str]"]


@contextlib.contextmanager
def atomic_hdf5_file(path: PathLike) -> Iterator[Any]:
    """An `h5py.File` open for writing whose contents appear at `path` only once it is complete and closed
    (see `atomic_path`)."""
    import h5py

    with atomic_path(path) as temporary:
        with h5py.File(temporary, "w") as h5file:
            yield h5file


def _check_parts(character_encoder: Any, lstm: Any) -> None:
    """A `ConfigurationError` naming the part that is not an `ElmoCharacterEncoder` / `ElmoLstm`."""
    # run time, here and in `export_elmo`: these check the parts of a built model
    if not isinstance(character_encoder, ElmoCharacterEncoder):
        raise ConfigurationError(
            f"cannot export {type(character_encoder).__name__} as an ELMo character encoder: expected an "
            "ElmoCharacterEncoder (the character_encoder of an \"elmo_character_encoder\" token embedder)",
            "text_field_embedder")
    if not isinstance(lstm, ElmoLstm):
        raise ConfigurationError(
            f"cannot export {type(lstm).__name__} as ELMo LSTMs: expected an ElmoLstm (the lstm of an "
            '"elmo_lstm" contextualizer); other encoders have no bilm-tf weight layout', "contextualizer")


def elmo_options(encoder: ElmoCharacterEncoder, lstm: ElmoLstm) -> Dict[str, Any]:
    """The bilm-tf options dict describing these two parts (checked to fit together)."""
    _check_parts(encoder, lstm)
    if not encoder.output_dim == lstm.input_size == lstm.hidden_size:
        raise ConfigurationError(
            "bilm-tf files describe a model whose token vectors, LSTM inputs and LSTM projections have one size "
            f"(lstm.projection_dim); found character encoder output {encoder.output_dim}, LSTM input "
            f"{lstm.input_size} and LSTM projection {lstm.hidden_size}", "contextualizer")
    lstm_options: Dict[str, Any] = {"use_skip_connections": bool(lstm.use_skip_connections),
                                    "n_layers": lstm.num_layers, "projection_dim": lstm.hidden_size,
                                    "dim": lstm.cell_size}
    # A missing clip means "no clipping" to ElmoBiLm (and to AllenNLP), so None is left out, not written.
    for key, value in (("cell_clip", lstm.cell_clip), ("proj_clip", lstm.proj_clip)):
        if value:
            lstm_options[key] = value
    return {
        "lstm": lstm_options,
        "char_cnn": {"embedding": {"dim": encoder.embedding_dim},
                     "filters": [list(bank) for bank in encoder.filters],
                     "n_highway": encoder.num_highway,
                     "n_characters": encoder.num_characters,
                     "max_characters_per_token": MAX_WORD_LENGTH,
                     "activation": encoder.activation},
    }


def elmo_weight_arrays(encoder: Any, lstm: Any) -> Dict[str, np.ndarray]:  # checked: ElmoCharacterEncoder, ElmoLstm
    """Every dataset of the bilm-tf weight file, by name, as float32 arrays."""
    _check_parts(encoder, lstm)

    def array(tensor: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(tensor.detach().cpu().to(torch.float32).numpy())

    arrays: Dict[str, np.ndarray] = {"char_embed": array(encoder.char_embedding.weight[1:])}  # (n_chars - 1, E)
    for k, convolution in enumerate(encoder.convolutions):
        arrays[f"CNN/W_cnn_{k}"] = array(convolution.weight.permute(2, 1, 0).unsqueeze(0))  # (1, w, E, n)
        arrays[f"CNN/b_cnn_{k}"] = array(convolution.bias)  # (n,)
    num_filters = encoder.num_filters
    for k, highway in enumerate(encoder.highways):
        # nn.Linear's (out, in) weight holds [transform | carry] rows; the file wants (in, out) each.
        arrays[f"CNN_high_{k}/W_transform"] = array(highway.weight[:num_filters].t())  # (F, F)
        arrays[f"CNN_high_{k}/W_carry"] = array(highway.weight[num_filters:].t())  # (F, F)
        arrays[f"CNN_high_{k}/b_transform"] = array(highway.bias[:num_filters])  # (F,)
        arrays[f"CNN_high_{k}/b_carry"] = array(highway.bias[num_filters:])  # (F,)
    arrays["CNN_proj/W_proj"] = array(encoder.projection.weight.t())  # (F, P)
    arrays["CNN_proj/b_proj"] = array(encoder.projection.bias)  # (P,)
    for layer in range(lstm.num_layers):
        for direction in range(2):  # RNN_0 is the forward stack, RNN_1 the backward one
            prefix = f"RNN_{direction}/RNN/MultiRNNCell/Cell{layer}/LSTMCell"
            kernel = torch.cat([lstm.input_weights[layer][direction],
                                lstm.recurrent_weights[layer][direction]])  # (I + H, 4C), rows: x then h
            arrays[f"{prefix}/W_0"] = array(kernel)
            arrays[f"{prefix}/B"] = array(lstm.biases[layer][direction])  # (4C,), no +1 forget bias in it
            arrays[f"{prefix}/W_P_0"] = array(lstm.projection_weights[layer][direction])  # (C, H)
    return arrays


def export_elmo(character_encoder: ElmoCharacterEncoder, lstm: ElmoLstm, options_file: PathLike,
                weight_file: PathLike) -> None:
    """Write `options_file` (JSON) and `weight_file` (hdf5) for `ElmoBiLm`, each atomically.

    Parameters
        character_encoder: ElmoCharacterEncoder   e.g. an "elmo_character_encoder" token embedder's
                                                  `character_encoder`.
        lstm: ElmoLstm                            e.g. an "elmo_lstm" contextualizer's `lstm`.
    Notes
        The two must agree on one size P (token vectors = LSTM inputs = LSTM projections), as bilm-tf's
        options have a single `projection_dim`. Anything else raises a `ConfigurationError` naming the
        part that cannot be exported. The stateful/stateless mode is not part of the files: `ElmoBiLm`
        chooses it when loading.
    """
    options = elmo_options(character_encoder, lstm)
    arrays = elmo_weight_arrays(character_encoder, lstm)
    with atomic_hdf5_file(weight_file) as h5file:
        for name, value in arrays.items():
            h5file.create_dataset(name, data=value)
    with atomic_path(options_file) as temporary:
        Path(temporary).write_text(json.dumps(options, indent=2) + "\n", encoding="utf-8")


def export_bilm(bilm: ElmoBiLm, options_file: PathLike, weight_file: PathLike) -> None:
    """`export_elmo` for an `ElmoBiLm` (e.g. one loaded from files and then fine-tuned)."""
    export_elmo(bilm.character_encoder, bilm.lstm, options_file, weight_file)
