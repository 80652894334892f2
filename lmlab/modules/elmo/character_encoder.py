"""ELMo's context-independent token encoder: characters -> CNN -> highway -> projection.

Also holds what the rest of the ELMo package shares about files and boundaries: reading `options.json`,
reading checked datasets from the hdf5 weight file, and adding / removing the `<S>`/`</S>` positions.
"""
import json
from typing import Any, Dict, List, Optional, Sequence, Tuple, cast

import torch

from lmlab.common.errors import ConfigurationError, InputError
from lmlab.modules.elmo.character_ids import (
    BOS_CHAR_IDS,
    EOS_CHAR_IDS,
    MAX_WORD_LENGTH,
    NUM_CHARACTERS,
)

_ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}
_REQUIRED = object()


def load_elmo_options(options_file: str) -> Dict[str, Any]:
    """Parse a bilm-tf `options.json` (only the `char_cnn` and `lstm` blocks are used)."""
    try:
        with open(options_file, encoding="utf-8") as handle:
            options = json.load(handle)
    except OSError as err:
        raise InputError(f"cannot read ELMo options file: {err.strerror}", options_file) from err
    except json.JSONDecodeError as err:
        raise InputError(f"invalid JSON: {err.msg}", f"{options_file}:{err.lineno}") from err
    for block in ("char_cnn", "lstm"):  # run time: the options file's contents
        if not isinstance(options.get(block), dict):
            raise ConfigurationError(f'expected an object "{block}" in the ELMo options', options_file)
    return options


def option(options: Dict[str, Any], path: str, default: Any = _REQUIRED, source: str = "options") -> Any:
    """`options["a"]["b"]` for `path="a.b"`, with a located error when the key is missing."""
    value: Any = options
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            if default is _REQUIRED:  # run time: the options file's contents
                raise ConfigurationError(f'missing ELMo option "{path}"', source)
            return default
        value = value[key]
    return value


def read_dataset(h5file: Any, name: str, shape: Sequence[int], weight_file: str) -> torch.Tensor:
    """Dataset `name` of an open hdf5 file as a float32 tensor, after checking that it has `shape`."""
    if name not in h5file:
        raise InputError(f'missing dataset "{name}" in ELMo weight file', weight_file)
    array = h5file[name][...]
    if tuple(array.shape) != tuple(shape):
        raise InputError(
            f'dataset "{name}": expected shape {tuple(shape)} from the options, found {tuple(array.shape)}',
            weight_file,
        )
    return torch.from_numpy(array).float()


def open_weight_file(weight_file: str) -> Any:
    """An open, read-only `h5py.File` (h5py is imported here so that importing lmlab stays light)."""
    import h5py

    try:
        return h5py.File(weight_file, "r")
    except OSError as err:
        raise InputError(f"cannot open ELMo weight file as hdf5: {err}", weight_file) from err


def add_sentence_boundaries(
    tensor: torch.Tensor, mask: torch.Tensor, bos: torch.Tensor, eos: torch.Tensor
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Insert `bos` before and `eos` after the real tokens of each row.

    Inputs
        tensor: (B, T, D) any dtype (token vectors or character ids), rows right-padded;
        mask: (B, T) bool, True = token;  bos, eos: (D,).
    Outputs
        (B, T + 2, D) with `bos` at 0, the tokens at 1..n and `eos` at n + 1 for a row of n tokens,
        zeros elsewhere; and its mask (B, T + 2). A row without tokens gets no boundaries and stays
        all padding (mask all False).
    """
    batch_size, timesteps = mask.shape
    lengths = mask.sum(dim=1, keepdim=True)  # (B, 1)
    has_tokens = lengths > 0  # (B, 1)
    positions = torch.arange(timesteps + 2, device=mask.device).unsqueeze(0)  # (1, T + 2)
    body = torch.nn.functional.pad(tensor * mask.unsqueeze(-1).to(tensor.dtype), (0, 0, 1, 1))  # (B, T + 2, D)
    is_bos = (positions == 0) & has_tokens  # (B, T + 2)
    is_eos = (positions == lengths + 1) & has_tokens  # (B, T + 2)
    bos = bos.to(tensor.dtype).expand_as(body)
    eos = eos.to(tensor.dtype).expand_as(body)
    with_boundaries = torch.where(is_bos.unsqueeze(-1), bos, torch.where(is_eos.unsqueeze(-1), eos, body))
    new_mask = (positions <= lengths + 1) & has_tokens  # (B, T + 2)
    return with_boundaries, new_mask


def remove_sentence_boundaries(tensor: torch.Tensor, mask: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Inverse of `add_sentence_boundaries`: drop `<S>`/`</S>` and shift the tokens back to position 0.

    Inputs
        tensor: (B, T + 2, D);  mask: (B, T + 2) bool, as made by `add_sentence_boundaries`.
    Outputs
        (B, T, D) with zeros at padding, and its mask (B, T).
    """
    # A row of n tokens has mask True at 0..n+1, so "position t + 2 is real" means "token t exists".
    new_mask = mask[:, 2:]  # (B, T)
    return tensor[:, 1:-1] * new_mask.unsqueeze(-1).to(tensor.dtype), new_mask


class ElmoCharacterEncoder(torch.nn.Module):
    """Context-independent token vectors from ELMo character ids, with `<S>`/`</S>` added around each row.

    Character embedding -> one 1-D convolution per filter bank, max-pooled over character positions and
    passed through `activation` -> highway layers -> linear projection (Peters et al., 2018; the bilm-tf
    architecture). Not registered: a part of `ElmoBiLm`.

    Parameters
        embedding_dim: int            E, size of a character vector (row 0, the padding-token id, is 0).
        filters: List[List[int]]      `[[width, count], ...]`, one convolution bank each; F = sum(count).
        num_highway: int              highway layers on the F CNN features.
        output_dim: int               P, size of the projected token vector.
        num_characters: int = 262     rows of the character table (ids 0..261).
        activation: str = "relu"      applied after max-pooling each bank: "relu" or "tanh".
    Inputs
        inputs: (B, T, 50) int64 character ids from `batch_to_ids`, rows right-padded with all-0 tokens.
    Outputs
        {"token_embedding": (B, T + 2, P) float, zeros at padding;
         "mask": (B, T + 2) bool, True at `<S>`, the tokens and `</S>`}.
    Notes
        Highway gate convention (bilm-tf): `g = sigmoid(x W_carry + b_carry)` multiplies the transformed
        branch `relu(x W_transform + b_transform)` and `1 - g` multiplies the input.
        Both are computed by one fused linear layer whose output is `[transform | carry]`.
        Padding slots are never encoded: the real tokens are gathered into one batch (`encode_tokens`).
    """

    boundary_char_ids: torch.Tensor

    def __init__(
        self,
        embedding_dim: int,
        filters: List[List[int]],
        num_highway: int,
        output_dim: int,
        num_characters: int = NUM_CHARACTERS,
        activation: str = "relu",
    ) -> None:
        super().__init__()
        # run time: these values come from an ELMo options file read when building (the "elmo_character_encoder"
        # token embedder checks its config's values by their types instead)
        if activation not in _ACTIVATIONS:
            raise ConfigurationError(
                f'expected one of {sorted(_ACTIVATIONS)}, found "{activation}"', "char_cnn.activation"
            )
        if num_characters < NUM_CHARACTERS:
            raise ConfigurationError(
                f"expected at least {NUM_CHARACTERS} characters (ids 0..261), found {num_characters}",
                "char_cnn.n_characters",
            )
        for width, _ in filters:
            if not 1 <= width <= MAX_WORD_LENGTH:
                raise ConfigurationError(f"filter width {width} is outside 1..{MAX_WORD_LENGTH}", "char_cnn.filters")
        self.embedding_dim = embedding_dim
        self.filters = [[int(width), int(count)] for width, count in filters]
        self.num_highway = num_highway
        self.output_dim = output_dim
        self.num_characters = num_characters
        self.activation = activation
        self.num_filters = sum(count for _, count in self.filters)

        self.char_embedding = torch.nn.Embedding(num_characters, embedding_dim, padding_idx=0)
        self.convolutions = torch.nn.ModuleList(
            torch.nn.Conv1d(embedding_dim, count, kernel_size=width) for width, count in self.filters
        )
        self.highways = torch.nn.ModuleList(
            torch.nn.Linear(self.num_filters, 2 * self.num_filters) for _ in range(num_highway)
        )
        self.projection = torch.nn.Linear(self.num_filters, output_dim)
        # The boundary tokens go through the CNN together with the batch, so they are kept as ids.
        self.register_buffer(
            "boundary_char_ids", torch.tensor([BOS_CHAR_IDS, EOS_CHAR_IDS], dtype=torch.long), persistent=False
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Random initialisation, for training an ELMo-style model from scratch."""
        torch.nn.init.normal_(self.char_embedding.weight, std=1.0)
        with torch.no_grad():
            self.char_embedding.weight[0].zero_()
        for convolution in self._banks():
            convolution.reset_parameters()
        for highway in self._highway_layers():
            highway.reset_parameters()
            # A negative gate bias makes a fresh highway layer mostly pass its input through, which is
            # what trained ELMo highways do (their b_carry is about -2) and keeps early training stable.
            with torch.no_grad():
                highway.bias[self.num_filters :].fill_(-2.0)
        self.projection.reset_parameters()

    @classmethod
    def from_options(cls, options: Dict[str, Any], source: str = "options") -> "ElmoCharacterEncoder":
        """Randomly initialised encoder with the sizes of a bilm-tf options dict."""
        max_chars = option(options, "char_cnn.max_characters_per_token", MAX_WORD_LENGTH, source)
        if max_chars != MAX_WORD_LENGTH:  # run time: the options file's contents
            raise ConfigurationError(
                f"char_cnn.max_characters_per_token: expected {MAX_WORD_LENGTH} (batch_to_ids), found {max_chars}",
                source,
            )
        return cls(
            embedding_dim=option(options, "char_cnn.embedding.dim", source=source),
            filters=option(options, "char_cnn.filters", source=source),
            num_highway=option(options, "char_cnn.n_highway", source=source),
            output_dim=option(options, "lstm.projection_dim", source=source),
            num_characters=option(options, "char_cnn.n_characters", NUM_CHARACTERS, source),
            activation=option(options, "char_cnn.activation", "relu", source),
        )

    @classmethod
    def from_files(
        cls, options_file: str, weight_file: Optional[str], requires_grad: bool = False
    ) -> "ElmoCharacterEncoder":
        """Encoder built from `options_file` with the pretrained weights of `weight_file` (None: random)."""
        encoder = cls.from_options(load_elmo_options(options_file), options_file)
        if weight_file is not None:
            encoder.load_weights(weight_file)
        for parameter in encoder.parameters():
            parameter.requires_grad_(requires_grad)
        return encoder

    def load_weights(self, weight_file: str, h5file: Any = None) -> None:
        """Copy the bilm-tf character-CNN datasets (README section 3) into this module."""
        handle = open_weight_file(weight_file) if h5file is None else h5file
        try:

            def read(name: str, shape: Sequence[int]) -> torch.Tensor:
                return read_dataset(handle, name, shape, weight_file)

            num_filters = self.num_filters
            with torch.no_grad():
                # The file has no row for id 0 (whole padding tokens); that row stays zero.
                self.char_embedding.weight[0].zero_()
                self.char_embedding.weight[1:].copy_(
                    read("char_embed", (self.num_characters - 1, self.embedding_dim))
                )
                for k, ((width, count), convolution) in enumerate(zip(self.filters, self._banks(), strict=False)):
                    kernel = read(f"CNN/W_cnn_{k}", (1, width, self.embedding_dim, count))  # (1, w, E, n)
                    convolution.weight.copy_(kernel[0].permute(2, 1, 0))  # (n, E, w)
                    assert convolution.bias is not None  # the banks are built with a bias
                    convolution.bias.copy_(read(f"CNN/b_cnn_{k}", (count,)))
                for k, highway in enumerate(self._highway_layers()):
                    prefix = f"CNN_high_{k}"
                    # Row-vector W (in, out) becomes nn.Linear's (out, in); output = [transform | carry].
                    highway.weight[:num_filters].copy_(read(f"{prefix}/W_transform", (num_filters, num_filters)).t())
                    highway.weight[num_filters:].copy_(read(f"{prefix}/W_carry", (num_filters, num_filters)).t())
                    highway.bias[:num_filters].copy_(read(f"{prefix}/b_transform", (num_filters,)))
                    highway.bias[num_filters:].copy_(read(f"{prefix}/b_carry", (num_filters,)))
                self.projection.weight.copy_(read("CNN_proj/W_proj", (num_filters, self.output_dim)).t())
                self.projection.bias.copy_(read("CNN_proj/b_proj", (self.output_dim,)))
        finally:
            if h5file is None:
                handle.close()

    def get_output_dim(self) -> int:
        return self.output_dim

    def _banks(self) -> List[torch.nn.Conv1d]:
        return [cast(torch.nn.Conv1d, convolution) for convolution in self.convolutions]

    def _highway_layers(self) -> List[torch.nn.Linear]:
        return [cast(torch.nn.Linear, highway) for highway in self.highways]

    def encode_char_ids(self, char_ids: torch.Tensor) -> torch.Tensor:
        """Token vectors of individual tokens, without boundaries.

        Inputs
            char_ids: (N, 50) int64.
        Outputs
            (N, P); a padding token (all ids 0) gets a vector too (callers mask it).
        """
        embedded = self.char_embedding(char_ids)  # (N, 50, E)
        # Seen as (N, E, 1, 50) images, the embedded characters are already in channels-last layout,
        # and oneDNN's channels-last 2-D convolution is ~1.7x faster on CPU than conv1d on (N, E, 50)
        # (measured with the full-size filters); the arithmetic is the same cross-correlation.
        images = embedded.transpose(1, 2).unsqueeze(2).contiguous(memory_format=torch.channels_last)  # (N, E, 1, 50)
        activation = _ACTIVATIONS[self.activation]
        # One convolution per filter bank over all N tokens at once; the loop is over the banks.
        features = [
            activation(
                torch.nn.functional.conv2d(images, convolution.weight.unsqueeze(2), convolution.bias)  # (N, n, 1, 51-w)
                .amax(dim=-1)
                .squeeze(-1)
            )  # (N, n)
            for convolution in self._banks()
        ]
        hidden = torch.cat(features, dim=-1)  # (N, F)
        for highway in self._highway_layers():
            transform, carry = highway(hidden).chunk(2, dim=-1)  # (N, F) each
            gate = torch.sigmoid(carry)
            hidden = gate * torch.relu(transform) + (1 - gate) * hidden
        return self.projection(hidden)  # (N, P)

    def boundary_embeddings(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """The vectors of `<S>` and `</S>`, each (P,)."""
        encoded = self.encode_char_ids(self.boundary_char_ids)  # (2, P)
        return encoded[0], encoded[1]

    def encode_tokens(
        self, inputs: torch.Tensor, mask: torch.Tensor, extra_ids: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Vectors of the real tokens of a padded batch, without encoding any padding slot.

        Inputs
            inputs: (B, T, 50) int64 character ids;  mask: (B, T) bool, True = token;
            extra_ids: optional (K, 50) int64 ids encoded in the same pass (e.g. the boundary tokens).
        Outputs
            (B, T, P) with zeros at padding, and (K, P) for `extra_ids` ((0, P) without them).
        Notes
            The real tokens are gathered into one (N, 50) batch, encoded, and scattered back, so the CNN
            and highway layers see N + K rows instead of B * T. Finding them is one host sync (the count
            N sizes the batch).
        """
        batch_size, timesteps, _ = inputs.shape
        flat_ids = inputs.reshape(batch_size * timesteps, MAX_WORD_LENGTH)  # (B * T, 50)
        token_index = mask.reshape(-1).nonzero().squeeze(1)  # (N,)
        selected = flat_ids.index_select(0, token_index)  # (N, 50)
        if extra_ids is not None:
            selected = torch.cat([selected, extra_ids])  # (N + K, 50)
        encoded = self.encode_char_ids(selected)  # (N + K, P)
        num_tokens = token_index.size(0)
        tokens = encoded.new_zeros(batch_size * timesteps, self.output_dim).index_copy(
            0, token_index, encoded[:num_tokens]
        )  # (B * T, P)
        return tokens.view(batch_size, timesteps, self.output_dim), encoded[num_tokens:]

    def forward(self, inputs: torch.Tensor) -> Dict[str, torch.Tensor]:
        if inputs.dim() != 3 or inputs.size(-1) != MAX_WORD_LENGTH:
            raise ValueError(f"expected character ids of shape (B, T, {MAX_WORD_LENGTH}), found {tuple(inputs.shape)}")
        mask = (inputs > 0).any(dim=-1)  # (B, T)
        # The two boundary tokens go through the CNN in the same pass as the batch: one CNN call in all.
        tokens, boundaries = self.encode_tokens(inputs, mask, self.boundary_char_ids)  # (B, T, P), (2, P)
        token_embedding, mask_with_boundaries = add_sentence_boundaries(
            tokens, mask, boundaries[0], boundaries[1]
        )  # (B, T + 2, P), (B, T + 2)
        return {"token_embedding": token_embedding, "mask": mask_with_boundaries}

    def extra_repr(self) -> str:
        return (
            f"embedding_dim={self.embedding_dim}, filters={self.filters}, num_highway={self.num_highway}, "
            f"output_dim={self.output_dim}, activation={self.activation!r}"
        )
