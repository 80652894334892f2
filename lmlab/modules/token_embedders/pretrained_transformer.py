"""`pretrained_transformer`: a pretrained transformer encoder's contextual vector for every sub-word piece."""
from typing import List, Optional

import torch
from overrides import overrides

from lmlab.common.constraints import PositiveInt
from lmlab.common.errors import ConfigurationError
from lmlab.common.pretrained_transformers import model_max_length
from lmlab.modules.pretrained_transformers import load_model, special_token_counts
from lmlab.modules.scalar_mix import ScalarMix
from lmlab.modules.token_embedders.token_embedder import TokenEmbedder


@TokenEmbedder.register("pretrained_transformer")
class PretrainedTransformerEmbedder(TokenEmbedder):
    """Runs a pretrained model (`AutoModel`) over the ids of a "pretrained_transformer" indexer.

    Registered as a `TokenEmbedder` with name "pretrained_transformer". Needs `lmlab[transformers]`.

    Parameters
        model_name: str                the model folder (or hub name).
        last_layer_only: bool = True   the top layer's output; false: a learned `ScalarMix` of the outputs of
                                       all L layers (the embedding layer excluded, as AllenNLP).
        train_parameters: bool = True  false freezes the transformer (a scalar mix still trains).
        max_length: Optional[int] = None   the longest row run as one window; None: the model's maximum.
        load_weights: bool = True      false: the architecture only, with random weights (archives set it;
                                       their weights come from the archive).
    Inputs
        token_ids: (B, T) long, the model's ids with its special tokens;  mask: (B, T) bool or 0/1 ints,
        True = piece (rows right-padded).
    Outputs
        (B, T, H) float, H the model's hidden size; zeros at padding.
    Notes
        *Windows* (AllenNLP's folding). A row of n > `max_length` pieces is cut into windows: its S start
        and E end special tokens (the model's, e.g. [CLS] and [SEP]) are taken off, the n - S - E inner
        pieces are cut into chunks of `max_length` - S - E, and each chunk runs framed by the row's own start
        and end tokens. The stitched output is the first window's start tokens, every window's inner pieces
        in order, then the last window's end tokens. Rows that fit run whole, as they are. All windows of a
        batch run in one call.
    """

    def __init__(self, model_name: str, last_layer_only: bool = True, train_parameters: bool = True,
                 max_length: Optional[PositiveInt] = None, load_weights: bool = True) -> None:
        super().__init__()
        self.model_name = model_name
        self.transformer_model = load_model(model_name, "base", load_weights)
        self.last_layer_only = last_layer_only
        self.train_parameters = train_parameters
        self.max_length = max_length if max_length is not None else model_max_length(model_name)
        self._start_count, self._end_count = special_token_counts(model_name)
        if self.max_length <= self._start_count + self._end_count:  # run time: the tokenizer's special tokens
            raise ConfigurationError(f"expected room for a piece besides the {self._start_count + self._end_count} "
                                     f"special tokens, found {self.max_length}", "max_length")
        config = self.transformer_model.config
        self.output_dim = int(config.hidden_size)
        self.scalar_mix = None if last_layer_only else ScalarMix(int(config.num_hidden_layers))
        if not train_parameters:
            for parameter in self.transformer_model.parameters():
                parameter.requires_grad_(False)

    @overrides
    def get_output_dim(self) -> int:
        return self.output_dim

    def forward(self, token_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask = mask.bool()
        if token_ids.shape[1] <= self.max_length:
            return self._encode(token_ids, mask)  # (B, T, H)
        return self._windowed(token_ids, mask)

    def _encode(self, token_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(N, T, H): the model over N rows of at most `max_length` pieces, zeros at padding."""
        output = self.transformer_model(input_ids=token_ids, attention_mask=mask.long(),
                                        output_hidden_states=not self.last_layer_only)
        if self.scalar_mix is None:
            hidden = output.last_hidden_state  # (N, T, H)
        else:
            hidden = self.scalar_mix(list(output.hidden_states[1:]), mask)  # (N, T, H)
        return hidden * mask.unsqueeze(-1).to(hidden.dtype)

    def _windowed(self, token_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Rows longer than `max_length` folded into windows and stitched back (see the class notes)."""
        batch_size, timesteps = token_ids.shape
        start, end, width = self._start_count, self._end_count, self.max_length
        chunk = width - start - end
        lengths = mask.sum(dim=1).tolist()  # (B,) one host sync
        windows: List[torch.Tensor] = []  # each (<= width,) ids
        sources: List[torch.Tensor] = []  # per row: (n,) index of each output piece into the windows' outputs
        for row, length in enumerate(lengths):  # a loop over rows and their windows, not over pieces
            ids = token_ids[row, :length]
            base = len(windows) * width
            if length <= width:
                windows.append(ids)
                sources.append(base + torch.arange(length, device=ids.device))
                continue
            head, inner, tail = ids[:start], ids[start:length - end], ids[length - end:]
            pieces = list(inner.split(chunk))
            parts = [torch.arange(start, device=ids.device) + base]
            for number, piece in enumerate(pieces):
                windows.append(torch.cat([head, piece, tail]))
                parts.append(base + number * width + start + torch.arange(len(piece), device=ids.device))
            last = base + (len(pieces) - 1) * width + start + len(pieces[-1])
            parts.append(last + torch.arange(end, device=ids.device))
            sources.append(torch.cat(parts))
        stacked = token_ids.new_zeros(len(windows), width)  # (N, width)
        window_mask = torch.zeros(len(windows), width, dtype=torch.bool, device=token_ids.device)  # (N, width)
        for number, window in enumerate(windows):
            stacked[number, :len(window)] = window
            window_mask[number, :len(window)] = True
        flat = self._encode(stacked, window_mask).reshape(len(windows) * width, -1)  # (N * width, H)
        index = token_ids.new_zeros(batch_size, timesteps)  # (B, T); padding reads window 0's piece 0 ...
        for row, source in enumerate(sources):
            index[row, :len(source)] = source
        stitched = flat[index]  # (B, T, H)
        return stitched * mask.unsqueeze(-1).to(stitched.dtype)  # ... and is zeroed here

    def extra_repr(self) -> str:
        return (f"model_name={self.model_name!r}, last_layer_only={self.last_layer_only}, "
                f"train_parameters={self.train_parameters}, max_length={self.max_length}")
