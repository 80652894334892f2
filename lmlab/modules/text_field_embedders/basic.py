"""`basic`: one token embedder per indexer, outputs concatenated."""
from typing import Annotated, Any, Dict, Optional, cast

import torch
from overrides import overrides

from lmlab.common.constraints import Length
from lmlab.common.errors import ConfigurationError
from lmlab.modules.text_field_embedders.text_field_embedder import TextFieldEmbedder
from lmlab.modules.token_embedders.token_embedder import TokenEmbedder


@TextFieldEmbedder.register("basic")
class BasicTextFieldEmbedder(TextFieldEmbedder):
    """Embeds each indexer's tensors with its own `TokenEmbedder` and concatenates the results.

    Registered as a `TextFieldEmbedder` with name "basic" (the default).

    Parameters
        token_embedders: Dict[str, TokenEmbedder]   indexer name -> embedder; the batch must have
                                                    exactly these indexer names.
        allow_unmatched_keys: bool = False          also accept batches with extra indexers, which are
                                                    ignored (e.g. a language model's "tokens" ids, used
                                                    only as targets, next to its "elmo_characters").
                                                    Every embedder must still find its indexer.
    Inputs
        text_field_input: `{indexer_name: {key: LongTensor}}`. An indexer with a single tensor passes it
        positionally to its embedder; one with several passes them as keyword arguments.
    Outputs
        (B, T, D) float, the embedders' outputs concatenated in sorted indexer-name order,
        D = the sum of their output sizes.
    Notes
        `token_embedder(name)` returns one sub-embedder (e.g. to tie a softmax to `embedder.weight`).
    """

    def __init__(self, token_embedders: Annotated[Dict[str, TokenEmbedder], Length(1)],
                 allow_unmatched_keys: bool = False) -> None:
        super().__init__()
        self._keys = sorted(token_embedders)
        self.allow_unmatched_keys = allow_unmatched_keys
        # ModuleDict registers the embedders' parameters (as token_embedders.<name>.*)
        self.token_embedders = torch.nn.ModuleDict({key: token_embedders[key] for key in self._keys})

    @classmethod
    def output_dim_from_config(cls, config: Dict[str, Any]) -> Optional[int]:
        dims = [TokenEmbedder.implementation_of(embedder).output_dim_from_config(embedder)
                for embedder in config["token_embedders"].values()]
        known = [dim for dim in dims if dim is not None]
        return sum(known) if len(known) == len(dims) else None

    @overrides
    def get_output_dim(self) -> int:
        return sum(self.token_embedder(key).get_output_dim() for key in self._keys)

    @overrides
    def token_embedder(self, name: str) -> TokenEmbedder:
        """The embedder of indexer `name`."""
        if name not in self.token_embedders:  # run time: the name a model asks for (e.g. to tie weights)
            raise ConfigurationError(f'no token embedder named "{name}" (have: {", ".join(self._keys)})',
                                     "token_embedders")
        return cast(TokenEmbedder, self.token_embedders[name])  # the ModuleDict holds only TokenEmbedders

    @overrides
    def forward(self, text_field_input: Dict[str, Dict[str, torch.Tensor]]) -> torch.Tensor:
        given = sorted(text_field_input)
        all_found = set(self._keys) <= set(given)
        if not (all_found if self.allow_unmatched_keys else given == self._keys):
            hint = "" if self.allow_unmatched_keys or not all_found else \
                "; set allow_unmatched_keys to ignore the extra indexers"
            raise ConfigurationError(  # run time: the indexers of a batch
                f"the batch's indexers ({', '.join(given) or 'none'}) do not match the "
                f"token embedders ({', '.join(self._keys)}){hint}")
        embedded = []
        for key in self._keys:
            tensors = text_field_input[key]
            embedder = self.token_embedders[key]
            if len(tensors) == 1:
                embedded.append(embedder(next(iter(tensors.values()))))  # (B, T, D_key)
            else:
                embedded.append(embedder(**tensors))  # (B, T, D_key)
        return embedded[0] if len(embedded) == 1 else torch.cat(embedded, dim=-1)  # (B, T, D)
