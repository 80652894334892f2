"""One vocabulary id per token."""
from typing import Dict, List, Literal, Optional

import numpy as np
from overrides import overrides

from lmlab.common.errors import InputError
from lmlab.data.token_indexers.token_indexer import TokenIndexer, count_tokens
from lmlab.data.vocabulary import Vocabulary


@TokenIndexer.register("single_id")
class SingleIdTokenIndexer(TokenIndexer):
    """Each token becomes its index in one vocabulary namespace.

    Registered as a `TokenIndexer` with name "single_id" (the default).

    Parameters
        namespace: Optional[str] = "tokens"   vocabulary namespace. None: the tokens already are
            integer ids written as decimal strings ("17"), used as they are, with no vocabulary.
        lowercase_tokens: bool = False        lowercase each token before the lookup (start/end tokens
            are kept as given).
        start_tokens: Optional[List[str]] = None   tokens put before the sequence (e.g. "<S>").
        end_tokens: Optional[List[str]] = None     tokens put after the sequence (e.g. "</S>").
        feature_name: str = "text"            kept for AllenNLP configs; tokens are plain strings, so
            "text" is the only value.
    Inputs
        tokens: List[str] of length T.
    Outputs
        {"tokens": (T + S + E,) int64} with S/E the number of start/end tokens; collated to
        {"tokens": (B, T_max) int64}, 0 (padding) after each sequence.
    Notes
        `count_vocab_items` counts the start/end tokens too, so they get vocabulary entries (AllenNLP
        left them out of the counts, making them OOV unless added by hand).
    """

    def __init__(self, namespace: Optional[str] = "tokens", lowercase_tokens: bool = False,
                 start_tokens: Optional[List[str]] = None, end_tokens: Optional[List[str]] = None,
                 feature_name: Literal["text"] = "text") -> None:
        self.namespace = namespace
        self.lowercase_tokens = lowercase_tokens
        self.start_tokens: List[str] = list(start_tokens or [])
        self.end_tokens: List[str] = list(end_tokens or [])
        self.feature_name = feature_name

    @property
    def indexes_tokens_independently(self) -> bool:
        return not self.start_tokens and not self.end_tokens

    def _framed(self, tokens: List[str]) -> List[str]:
        if self.lowercase_tokens:
            tokens = [token.lower() for token in tokens]
        if self.start_tokens or self.end_tokens:
            tokens = self.start_tokens + list(tokens) + self.end_tokens
        return tokens

    @overrides
    def count_vocab_items(self, tokens: List[str], counter: Dict[str, Dict[str, int]]) -> None:
        if self.namespace is not None:
            count_tokens(counter, self.namespace, self._framed(tokens))

    @overrides
    def tokens_to_indices(self, tokens: List[str], vocab: Vocabulary) -> Dict[str, np.ndarray]:
        framed = self._framed(tokens)
        if self.namespace is None:
            ids = []
            for token in framed:
                try:
                    ids.append(int(token))
                except ValueError:
                    raise InputError(f'single_id indexer with namespace null expects integer tokens, '
                                     f'found "{token}"') from None
            return {"tokens": np.array(ids, dtype=np.int64)}
        return {"tokens": vocab.get_token_indices(framed, self.namespace)}

    def __repr__(self) -> str:
        return (f"SingleIdTokenIndexer(namespace={self.namespace!r}, lowercase_tokens={self.lowercase_tokens}, "
                f"start_tokens={self.start_tokens}, end_tokens={self.end_tokens})")
