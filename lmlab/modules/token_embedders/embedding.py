"""`embedding`: a lookup table of one vector per id, optionally initialised from a GloVe-style file."""
import gzip
import io
import logging
import os
from typing import Any, Dict, Iterator, Optional

import torch

from lmlab.common.constraints import NonNegativeInt, PositiveFloat, PositiveInt
from lmlab.common.errors import ConfigurationError, InputError
from lmlab.data.vocabulary import Vocabulary
from lmlab.modules.token_embedders.token_embedder import TokenEmbedder, table_size

logger = logging.getLogger(__name__)


@TokenEmbedder.register("embedding")
class Embedding(TokenEmbedder):
    """A (num_embeddings, D) table of trainable vectors, indexed by token id.

    Registered as a `TokenEmbedder` with name "embedding".

    Parameters
        embedding_dim: int                   D.
        num_embeddings: Optional[int] = None V, the number of rows; default: the size of `vocab_namespace`
                                             in the injected `vocab`.
        vocab_namespace: str = "tokens"      namespace sizing the table and naming pretrained words.
        padding_index: Optional[int] = 0     this row is zero and gets no gradient; None: no padding row.
        trainable: bool = True               False freezes the table.
        sparse: bool = False                 sparse gradients (train with e.g. `torch.optim.SparseAdam`).
        max_norm: Optional[float] = None     rows looked up are renormalised to at most this L2 norm.
        pretrained_file: Optional[str] = None
                                             text file (optionally .gz), one "word v1 ... vD" per line
                                             (a "count dim" header line is skipped). Only words of the
                                             vocabulary are read; other rows are drawn from
                                             normal(0, std of the pretrained values).
        vocab: Optional[Vocabulary] = None   injected by lmlab.
    Inputs
        ids: (B, T) or any (...) long tensor of ids; 0 is padding.
    Outputs
        (..., D) float; padded ids give the zero vector.
    Attributes
        weight: (V, D) Parameter (tie it with a softmax with `tie_weights(embedding.weight)`).
    Notes
        Unlike most lmlab constructors this one reads a file, but only when `pretrained_file` is set:
        the pretrained vectors must be known before training starts, and reading them here keeps the
        config the single description of the model. A missing file or a line with the wrong number of
        values is an `InputError` naming `file:line`. The file is only read at construction and the
        weights are saved with the model: to rebuild a trained model from its config without the file,
        set `pretrained_file` to null (the loaded weights replace the random ones).
    """

    def __init__(self, embedding_dim: PositiveInt, num_embeddings: Optional[PositiveInt] = None,
                 vocab_namespace: str = "tokens", padding_index: Optional[NonNegativeInt] = 0,
                 trainable: bool = True, sparse: bool = False, max_norm: Optional[PositiveFloat] = None,
                 pretrained_file: Optional[str] = None, vocab: Optional[Vocabulary] = None) -> None:
        super().__init__()
        num_embeddings = table_size(num_embeddings, vocab, vocab_namespace)
        # run time: the table size may come from the vocabulary (num_embeddings null); `check_arguments`
        # refuses the same when the config sets num_embeddings
        if padding_index is not None and not padding_index < num_embeddings:
            raise ConfigurationError(f"expected an index in [0, {num_embeddings}), found {padding_index}",
                                     "padding_index")
        self.embedding_dim = embedding_dim
        self.num_embeddings = num_embeddings
        self.vocab_namespace = vocab_namespace
        self.padding_index = padding_index
        self.sparse = sparse
        self.max_norm = max_norm
        self.weight = torch.nn.Parameter(torch.empty(num_embeddings, embedding_dim), requires_grad=trainable)
        self.reset_parameters()
        if pretrained_file is not None:
            if vocab is None:  # run time: `vocab` is given by the caller (lmlab injects it), never configured
                raise ConfigurationError("a pretrained_file needs a vocabulary to know which words to read",
                                         "pretrained_file")
            token_to_index = vocab.get_token_to_index_vocabulary(vocab_namespace)
            with torch.no_grad():
                self.weight.copy_(read_pretrained_embeddings(pretrained_file, embedding_dim, token_to_index,
                                                             num_embeddings, padding_index))

    @classmethod
    def output_dim_from_config(cls, config: Dict[str, Any]) -> Optional[int]:
        return config["embedding_dim"]

    @classmethod
    def check_arguments(cls, arguments: Dict[str, Any]) -> Iterator[ConfigurationError]:
        size, padding = arguments.get("num_embeddings"), arguments.get("padding_index")
        if size is not None and padding is not None and padding >= size:
            yield ConfigurationError(f"expected an index in [0, {size}) (below num_embeddings), found {padding}",
                                     "padding_index")

    def reset_parameters(self) -> None:
        """Xavier-uniform rows, as AllenNLP's `Embedding` (`xavier_uniform_rows_`); the padding row is zero.

        Measured: `torch.nn.Embedding`'s normal(0, 1), which lmlab drew before, trained AllenNLP's crf_tagger
        recipe on CoNLL-2000 (3,000 sentences, 2 epochs, two seeds) to 83.7 / 83.1 dev F1 against AllenNLP's
        88.4 / 87.3; Xavier-uniform word and character vectors reached 88.4 (issue 20). Configs that follow
        another recipe set their initialisation in the model's `initializer`.
        """
        xavier_uniform_rows_(self.weight, self.padding_index)

    def get_output_dim(self) -> int:
        return self.embedding_dim

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.embedding(ids, self.weight, padding_idx=self.padding_index,
                                             max_norm=self.max_norm, sparse=self.sparse)  # (..., D)

    def extra_repr(self) -> str:
        return (f"{self.num_embeddings}, {self.embedding_dim}, padding_index={self.padding_index}, "
                f"sparse={self.sparse}, trainable={self.weight.requires_grad}")


def xavier_uniform_rows_(weight: torch.Tensor, padding_index: Optional[int]) -> None:
    """Fill a (V, D) embedding table in place from U(-a, a), a = sqrt(6 / (V + D)) (Xavier/Glorot uniform, as
    AllenNLP's `Embedding`), then zero the row `padding_index` (None: no padding row, AllenNLP's default)."""
    with torch.no_grad():
        torch.nn.init.xavier_uniform_(weight)
        if padding_index is not None:
            weight[padding_index].zero_()


def read_pretrained_embeddings(path: str, embedding_dim: int, token_to_index: Dict[str, int],
                               num_embeddings: int, padding_index: Optional[int] = 0) -> torch.Tensor:
    """A (num_embeddings, embedding_dim) tensor: the vectors of `path` for words in `token_to_index`.

    Rows of words absent from the file are drawn from normal(0, std of the vectors read); the padding
    row is zero. Lines are "word v1 ... vD"; the word may itself contain spaces (the D values are taken
    from the right). An optional first line "count dim" (word2vec / fastText header) is skipped.
    """
    if not os.path.isfile(path):
        if "://" in path:
            from lmlab.common.file_utils import cached_path  # downloads once, then a local file

            path = cached_path(path)
        else:
            raise InputError(f"pretrained embedding file not found: {path}", "pretrained_file")
    found_rows, found_vectors = [], []
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as raw:
        stream = io.TextIOWrapper(raw, encoding="utf-8", errors="replace")
        for line_number, line in enumerate(stream, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            fields = line.rstrip(" ").rsplit(" ", embedding_dim)
            if line_number == 1 and embedding_dim != 1 and len(fields) == 2 and all(f.isdigit() for f in fields):
                continue  # "count dim" header
            if len(fields) != embedding_dim + 1:
                raise InputError(f"expected a word and {embedding_dim} values, found {len(fields) - 1} values",
                                 f"{path}:{line_number}")
            index = token_to_index.get(fields[0])
            if index is None or index >= num_embeddings:
                continue
            try:
                found_vectors.append([float(value) for value in fields[1:]])
            except ValueError as err:
                raise InputError(f"expected {embedding_dim} numbers after the word: {err}",
                                 f"{path}:{line_number}") from None
            found_rows.append(index)
    if found_rows:
        vectors = torch.tensor(found_vectors, dtype=torch.float32)  # (F, D)
        std = vectors.std().item() if vectors.numel() > 1 else 1.0
    else:
        logger.warning("none of the %d vocabulary words is in %s; the embedding stays random",
                       len(token_to_index), path)
        vectors, std = torch.empty(0, embedding_dim), 1.0
    weight = torch.randn(num_embeddings, embedding_dim) * std  # (V, D)
    if found_rows:
        weight[torch.tensor(found_rows)] = vectors
        logger.info("read %d of %d vectors from %s", len(found_rows), num_embeddings, path)
    if padding_index is not None:
        weight[padding_index] = 0.0
    return weight
