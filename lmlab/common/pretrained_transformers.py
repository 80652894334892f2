"""Loading Hugging Face `transformers` files (configs, tokenizers) for lmlab's pretrained-transformer components.

`transformers` and `tokenizers` are the optional extra `lmlab[transformers]`: they are imported here, inside
functions, the first time a component needs them, and a missing install is a `ConfigurationError` that names
the extra. `model_name` is a local folder written by `save_pretrained` (always works, offline) or a hub name
(where the hub is reachable).
"""
import functools
from types import ModuleType
from typing import Any, List, Tuple

from lmlab.common.errors import ConfigurationError

EXTRA = "lmlab[transformers]"
"""The pip extra that installs `transformers` and `tokenizers`."""


def import_transformers() -> ModuleType:
    """The `transformers` module, or a ConfigurationError naming the extra to install."""
    try:
        import transformers
    except ImportError as err:
        raise ConfigurationError(f"pretrained transformers need the optional dependencies: pip install "
                                 f"'{EXTRA}' ({err})") from None
    transformers.utils.logging.disable_progress_bar()
    return transformers


@functools.lru_cache(maxsize=16)
def load_tokenizer(model_name: str) -> Any:
    """The model's fast tokenizer (`AutoTokenizer.from_pretrained`), loaded once per process and name.

    Callers must not change it: the object is shared. An unreadable name is a ConfigurationError.
    """
    transformers = import_transformers()
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(model_name)
    except (OSError, ValueError) as err:
        raise ConfigurationError(f'cannot load a tokenizer from "{model_name}": {str(err).splitlines()[0]}',
                                 "model_name") from err
    if not tokenizer.is_fast:
        raise ConfigurationError(f'"{model_name}" has no fast tokenizer (tokenizer.json); lmlab needs one for '
                                 "offsets", "model_name")
    return tokenizer


@functools.lru_cache(maxsize=16)
def load_config(model_name: str) -> Any:
    """The model's `AutoConfig`, loaded once per process and name (shared: do not change it)."""
    transformers = import_transformers()
    try:
        return transformers.AutoConfig.from_pretrained(model_name)
    except (OSError, ValueError) as err:
        raise ConfigurationError(f'cannot load a model config from "{model_name}": {str(err).splitlines()[0]}',
                                 "model_name") from err


def model_max_length(model_name: str) -> int:
    """The longest input the model takes, in tokens: the tokenizer's `model_max_length` when it is set (a
    real number, not transformers' "unset" 1e30), else the config's number of positions."""
    limit = load_tokenizer(model_name).model_max_length
    if limit and limit < 1_000_000:
        return int(limit)
    return int(load_config(model_name).max_position_embeddings)


def vocabulary_tokens(model_name: str) -> List[str]:
    """The tokenizer's tokens in id order (index i is id i): what a vocabulary namespace of the model holds."""
    vocab = load_tokenizer(model_name).get_vocab()
    tokens = [""] * len(vocab)
    for token, index in vocab.items():
        if not 0 <= index < len(tokens) or tokens[index]:
            raise ConfigurationError(f'the tokenizer of "{model_name}" has ids that are not 0..{len(vocab) - 1}, '
                                     "each once", "model_name")
        tokens[index] = token
    return tokens


@functools.lru_cache(maxsize=16)
def word_start_flags(model_name: str) -> Tuple[bool, ...]:
    """Per id (in id order): True when the token starts a whitespace word of the text it comes from (the
    tokenizer writes a space before it after another token: "Ġcat", "▁cat", "cat" of WordPiece, not "##s" or
    "at"), and for the tokenizer's special tokens (each is a word of its own, as an end-of-text token is)."""
    tokenizer = load_tokenizer(model_name)
    specials = set(tokenizer.all_special_tokens)
    return tuple(token in specials or tokenizer.convert_tokens_to_string(["a", token]).startswith("a ")
                 for token in vocabulary_tokens(model_name))
