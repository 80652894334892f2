"""`pretrained_transformer`: a pretrained model's own sub-word tokenizer (Hugging Face `tokenizers`)."""
from typing import List, Optional, Sequence, Tuple

from overrides import overrides

from lmlab.common.errors import ConfigurationError
from lmlab.common.pretrained_transformers import load_tokenizer, model_max_length
from lmlab.data.tokenizers.tokenizer import Tokenizer


@Tokenizer.register("pretrained_transformer")
class PretrainedTransformerTokenizer(Tokenizer):
    """Splits a text into the sub-word pieces of a pretrained model, special tokens added as the model's
    tokenizer adds them (`tokenizer(text)`: "[CLS] ... [SEP]" for BERT, "<s> ... </s>" for RoBERTa, none
    for GPT-2).

    Registered as a `Tokenizer` with name "pretrained_transformer". Needs `lmlab[transformers]`.

    Parameters
        model_name: str                 a folder written by `save_pretrained` (or a hub name where the hub
                                        is reachable) holding a fast tokenizer (tokenizer.json).
        add_special_tokens: bool = True add the model's special tokens around the pieces.
        max_length: Optional[int] = None   cut to this many pieces, special tokens included (the end
                                        tokens are kept); None: the model's maximum (`model_max_length`).
        truncate: bool = True           false: never cut (for an embedder that folds long inputs into
                                        windows, "pretrained_transformer" with `max_length`).
    Inputs
        text: str (the model's own special tokens in it, its mask token say, are kept whole).
    Outputs
        List[str]: the pieces as the model's vocabulary spells them, one per id ("##s" WordPieces, "Ġthe"
        byte-level BPE); `tokenize_with_offsets` adds each piece's (start, end) character span in the text ((0, 0)
        for added special tokens).
    Notes
        `special_tokens` and `mask_token` are the tokenizer's own. The tokenizer files are read when the
        component is built, once per process and folder.
    """

    def __init__(self, model_name: str, add_special_tokens: bool = True, max_length: Optional[int] = None,
                 truncate: bool = True) -> None:
        self.model_name = model_name
        self.add_special_tokens = add_special_tokens
        self.truncate = truncate
        self.tokenizer = load_tokenizer(model_name)
        self.max_length = max_length if max_length is not None else model_max_length(model_name)
        if self.max_length < 1 + self.tokenizer.num_special_tokens_to_add() * add_special_tokens:
            raise ConfigurationError(f"expected room for a piece besides the special tokens, found {self.max_length}",
                                     "max_length")
        self.special_tokens: Sequence[str] = tuple(self.tokenizer.all_special_tokens)
        self.mask_token: Optional[str] = self.tokenizer.mask_token

    def _encode(self, texts: List[str], offsets: bool = False) -> List:
        return self.tokenizer(texts, add_special_tokens=self.add_special_tokens, truncation=self.truncate,
                              max_length=self.max_length if self.truncate else None,
                              return_offsets_mapping=offsets).encodings

    def _tokens(self, ids: List[int]) -> List[str]:
        # the vocabulary's spelling of each id: an added token matched with the space it strips (RoBERTa's
        # "<mask>") would read " <mask>" in the encoding's own tokens
        return self.tokenizer.convert_ids_to_tokens(ids)

    @overrides
    def tokenize(self, text: str) -> List[str]:
        return self._tokens(self._encode([text])[0].ids)

    @overrides
    def batch_tokenize(self, texts: List[str]) -> List[List[str]]:
        return [self._tokens(encoding.ids) for encoding in self._encode(texts)]

    @overrides
    def detokenize(self, tokens: List[str]) -> str:
        return self.tokenizer.convert_tokens_to_string(tokens)

    def tokenize_with_offsets(self, text: str) -> Tuple[List[str], List[Tuple[int, int]]]:
        """The pieces of `text` and each one's (start, end) character span in it ((0, 0) for special tokens)."""
        encoding = self._encode([text], offsets=True)[0]
        return self._tokens(encoding.ids), [(start, end) for start, end in encoding.offsets]

    def __repr__(self) -> str:
        return (f"PretrainedTransformerTokenizer(model_name={self.model_name!r}, add_special_tokens="
                f"{self.add_special_tokens}, max_length={self.max_length}, truncate={self.truncate})")
