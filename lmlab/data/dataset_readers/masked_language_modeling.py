"""One sentence per line, with some tokens hidden behind "[MASK]", for masked (cloze) language models."""
import random
from typing import Annotated, Any, Dict, Iterator, List, Optional, Sequence

import numpy as np
from overrides import overrides

from lmlab.common.constraints import PositiveInt, Probability, Range, Word
from lmlab.common.errors import ConfigurationError, InputError
from lmlab.data.dataset_readers.dataset_reader import (
    WHITESPACE_TOKENIZER,
    DatasetReader,
    TokenFraming,
    chunked,
    iter_lines,
)
from lmlab.data.fields.array_field import ArrayField
from lmlab.data.fields.metadata_field import MetadataField
from lmlab.data.fields.text_field import TextField
from lmlab.data.instance import Instance
from lmlab.data.token_indexers.single_id import SingleIdTokenIndexer
from lmlab.data.token_indexers.token_indexer import TokenIndexer
from lmlab.data.tokenizers.tokenizer import Tokenizer

DEFAULT_MASK_TOKEN = "[MASK]"
MASK_POSITION_PADDING = -1
"""What `mask_positions` holds after the real positions of a row (a real position is >= 0)."""

_LINES_PER_BATCH = 1000  # lines tokenized together (spaCy's nlp.pipe is faster on batches)
_POOL_SIZE = 10_000  # recent tokens of the file that "random" replacements are drawn from


@DatasetReader.register("masked_language_modeling")
class MaskedLanguageModelingReader(DatasetReader):
    """Reads one sentence per line and hides some of its tokens for a masked language model.

    Registered as a `DatasetReader` with name "masked_language_modeling".

    Parameters
        tokenizer: Tokenizer = WhitespaceTokenizer()
        token_indexers: Optional[Dict[str, TokenIndexer]] = None   default {"tokens": single_id}. They
            must not add start/end tokens (that would shift `mask_positions`).
        mask_probability: float = 0.15   each token is chosen for prediction with this probability;
            a sentence with no chosen token gets one, at a uniformly drawn position.
        replace_with_mask: float = 0.8     a chosen token is replaced by `mask_token` ...
        replace_with_random: float = 0.1   ... or by a random token (see Notes) ...
            ... or else (probability 1 - the two above, 0.1 by default) kept as it is.
        mask_token: Optional[str] = None   the tokenizer's own (`Tokenizer.mask_token`: "[MASK]", "<mask>"
            of a "pretrained_transformer" tokenizer) if it has one, else "[MASK]".
        max_sequence_length: Optional[int] = None   longer sentences are cut to this many tokens before
            masking (`self.framing.max_length`; there are no start or end tokens).
        seed: int = 13   with the line number, seeds the masking of each line.
        max_instances: Optional[PositiveInt] = None
    Inputs
        Text files, UTF-8, one sentence per line; blank lines are skipped. A line containing
        `mask_token` is an `InputError` (its hidden token is unknown, so there is nothing to learn);
        sentences that are already masked go through `text_to_instance` (what the predictor does).
    Outputs
        Instances with M = the number of chosen positions (M >= 1):
        "tokens": TextField of the T (masked) tokens;
        "mask_positions": ArrayField (M,) int64, ascending; batched to (B, M_max), padded with -1;
        "target_ids": TextField of the M original tokens at those positions, same indexers (so batched
            ids are 0 where `mask_positions` is -1); absent for a masked sentence given without targets;
        "metadata": MetadataField {"original_tokens": the T tokens before masking (for a sentence given
            already masked: with the targets filled in if given, else as given), "masked_tokens": the T
            tokens of "tokens"}.
    Notes
        *Determinism.* Line n (1-based, blank lines counted) of a file is masked with its own
        `random.Random(f"{seed}:{n}")`, so every read of a file gives the same masks (validation
        perplexity is comparable across epochs and with `lmlab evaluate`), whatever the worker sharding.
        `text_to_instance` on an unmasked sentence seeds with `f"{seed}:{sentence}"` instead.
        *Random replacements* are drawn uniformly from the last 10 000 tokens of the file up to and
        including the current line (the current sentence alone in `text_to_instance`): roughly the
        unigram distribution of the text, with no vocabulary needed at read time. A draw may give back
        the original token.
        *Vocabulary.* The "tokens" field of every instance counts `mask_token` at least once (once extra
        when its sentence has none), so the mask token is in the vocabulary even if no sentence was
        masked with it.
        The tokenizer must keep `mask_token` whole: `text_to_instance` splits the raw sentence at each
        `mask_token` and tokenizes the pieces in between, so any tokenizer works for prediction input. A
        tokenizer whose own special tokens include `mask_token` (a pretrained model's) tokenizes the whole
        sentence instead, as its model saw text in pretraining. Its special tokens ("[CLS]", "[SEP]") are never
        chosen for masking.
    Example
        >>> from lmlab.data.dataset_readers import DatasetReader
        >>> reader = DatasetReader.from_params({"type": "masked_language_modeling", "mask_probability": 1.0,
        ...                                     "replace_with_mask": 1.0, "replace_with_random": 0.0})
        >>> instance = reader.text_to_instance("the cat sat")
        >>> [str(token) for token in instance["tokens"].tokens]  # every word chosen, each replaced by the mask
        ['[MASK]', '[MASK]', '[MASK]']
    """

    def __init__(self, tokenizer: Tokenizer = WHITESPACE_TOKENIZER,
                 token_indexers: Optional[Dict[str, TokenIndexer]] = None,
                 mask_probability: Annotated[float, Range(0.0, 1.0, low_open=True)] = 0.15,
                 replace_with_mask: Probability = 0.8, replace_with_random: Probability = 0.1,
                 mask_token: Optional[Word] = None, max_sequence_length: Optional[PositiveInt] = None,
                 seed: int = 13, max_instances: Optional[PositiveInt] = None) -> None:
        super().__init__(max_instances=max_instances)
        mask_token = mask_token or tokenizer.mask_token or DEFAULT_MASK_TOKEN
        self.tokenizer = tokenizer
        self.token_indexers = token_indexers or {"tokens": SingleIdTokenIndexer()}
        self.mask_probability = mask_probability
        self.replace_with_mask = replace_with_mask
        self.replace_with_random = replace_with_random
        self.mask_token = mask_token
        self.framing = TokenFraming(max_length=max_sequence_length)
        self.seed = seed

    # --- reading --------------------------------------------------------------------------------------
    @classmethod
    def check_arguments(cls, arguments: Dict[str, Any]) -> Iterator[ConfigurationError]:
        replace_with_mask, replace_with_random = arguments.get("replace_with_mask", 0.8), \
            arguments.get("replace_with_random", 0.1)
        if replace_with_mask + replace_with_random > 1.0 + 1e-9:
            yield ConfigurationError(f"replace_with_mask + replace_with_random must be <= 1 (the rest is the chance "
                                     f"of keeping the token), found {replace_with_mask} + {replace_with_random} = "
                                     f"{replace_with_mask + replace_with_random:g}", "replace_with_random")
        for name, indexer in (arguments.get("token_indexers") or {}).items():
            if indexer.get("start_tokens") or indexer.get("end_tokens"):
                yield ConfigurationError("a masked LM indexer must not add start/end tokens: they would shift the "
                                         "mask positions", f"token_indexers.{name}")

    @overrides
    def _read(self, file_path: str) -> Iterator[Instance]:
        pool = _TokenPool(_POOL_SIZE)
        numbered = ((number, line.strip()) for number, line in enumerate(iter_lines(file_path), start=1))
        for batch in chunked(((number, line) for number, line in numbered if line), _LINES_PER_BATCH):
            lines = [line for _, line in batch]
            for (number, line), tokens in zip(batch, self.tokenizer.batch_tokenize(lines), strict=True):
                if not tokens:
                    continue
                if self.mask_token in line:
                    raise InputError(f'the sentence already contains the mask token "{self.mask_token}"; '
                                     "training and evaluation data must be unmasked text", f"{file_path}:{number}")
                tokens = self.framing.cut(tokens)
                pool.extend(tokens)
                yield self._mask(tokens, random.Random(f"{self.seed}:{number}"), pool)

    @overrides(check_signature=False)  # the base takes whatever one example is made of
    def text_to_instance(self, sentence: str,
                         targets: Optional[List[str]] = None) -> Instance:
        """Instance for one sentence.

        With `mask_token` in `sentence` those positions are the ones to predict, and `targets` (one per
        mask, in order) gives their answers (no "target_ids" field without it). Without a mask token
        the sentence is masked as in `_read` (seeded by the sentence, random tokens from the sentence).
        Errors (`InputError`): targets of the wrong length, or targets for a sentence with no mask.
        """
        if self.mask_token not in sentence:
            if targets is not None:
                raise InputError(f'"targets" given but the sentence contains no "{self.mask_token}"')
            tokens = self.framing.cut(self.tokenizer.tokenize(sentence))
            if not tokens:
                raise InputError("the sentence has no tokens")
            pool = _TokenPool(len(tokens))
            pool.extend(tokens)
            return self._mask(tokens, random.Random(f"{self.seed}:{sentence}"), pool)
        if self.mask_token in self.tokenizer.special_tokens:  # the tokenizer keeps it whole itself
            tokens = self.tokenizer.tokenize(sentence)
        else:
            tokens = []
            for index, piece in enumerate(sentence.split(self.mask_token)):
                if index:
                    tokens.append(self.mask_token)
                tokens.extend(self.tokenizer.tokenize(piece) if piece.strip() else [])
        tokens = self.framing.cut(tokens)
        positions = [position for position, token in enumerate(tokens) if token == self.mask_token]
        if targets is not None and len(targets) != len(positions):
            raise InputError(f'expected one target per "{self.mask_token}" ({len(positions)}), found {len(targets)}')
        original = list(tokens)
        if targets is not None:
            for position, target in zip(positions, targets, strict=True):
                original[position] = target
        return self._make_instance(tokens, original, positions, targets)

    # --- helpers --------------------------------------------------------------------------------------
    def _mask(self, tokens: List[str], rng: random.Random, pool: "_TokenPool") -> Instance:
        """Choose positions with `mask_probability` (at least one) and replace them (mask/random/keep)."""
        specials = self.tokenizer.special_tokens
        candidates = [p for p, token in enumerate(tokens) if token not in specials] if specials else range(len(tokens))
        if not candidates:
            raise InputError(f"nothing to mask: the sentence has only special tokens ({' '.join(tokens)})")
        positions = [position for position in candidates if rng.random() < self.mask_probability]
        if not positions:
            positions = [candidates[rng.randrange(len(candidates))]]
        masked = list(tokens)
        random_limit = self.replace_with_mask + self.replace_with_random
        for position in positions:
            draw = rng.random()
            if draw < self.replace_with_mask:
                masked[position] = self.mask_token
            elif draw < random_limit:
                masked[position] = pool.choice(rng)
        return self._make_instance(masked, tokens, positions, [tokens[p] for p in positions])

    def _make_instance(self, masked: List[str], original: List[str], positions: Sequence[int],
                       targets: Optional[List[str]]) -> Instance:
        fields = {
            "tokens": _MaskCountingTextField(masked, self.token_indexers, self.mask_token),
            "mask_positions": ArrayField(np.asarray(positions, dtype=np.int64), padding_value=MASK_POSITION_PADDING,
                                         dtype=np.int64),
        }
        if targets is not None:
            fields["target_ids"] = TextField(list(targets), self.token_indexers)
        fields["metadata"] = MetadataField({"original_tokens": original, "masked_tokens": masked})
        return Instance(fields)


class _MaskCountingTextField(TextField):
    """A `TextField` that counts `mask_token` for the vocabulary even when its tokens do not contain it."""

    __slots__ = ("mask_token",)

    def __init__(self, tokens: List[str], token_indexers: Dict[str, TokenIndexer], mask_token: str) -> None:
        super().__init__(tokens, token_indexers)
        self.mask_token = mask_token

    @overrides
    def count_vocab_items(self, counter: Dict[str, Dict[str, int]]) -> None:
        super().count_vocab_items(counter)
        if self.mask_token not in self.tokens:
            for indexer in self.token_indexers.values():
                indexer.count_vocab_items([self.mask_token], counter)


class _TokenPool:
    """The last `size` tokens added, for drawing random replacement tokens deterministically."""

    __slots__ = ("size", "tokens", "next")

    def __init__(self, size: int) -> None:
        self.size = max(size, 1)
        self.tokens: List[str] = []
        self.next = 0  # where the next token goes once the pool is full

    def extend(self, tokens: List[str]) -> None:
        for token in tokens[-self.size:]:
            if len(self.tokens) < self.size:
                self.tokens.append(token)
            else:
                self.tokens[self.next] = token
                self.next = (self.next + 1) % self.size

    def choice(self, rng: random.Random) -> str:
        return self.tokens[rng.randrange(len(self.tokens))]
