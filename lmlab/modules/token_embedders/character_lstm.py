"""`character_lstm`: a word vector from its characters with a bidirectional LSTM (Lample et al., 2016)."""
from typing import Optional

import torch
from torch.nn.utils.rnn import pack_padded_sequence

from lmlab.common.constraints import Probability
from lmlab.data.vocabulary import Vocabulary
from lmlab.modules.token_embedders.embedding import xavier_uniform_rows_
from lmlab.modules.token_embedders.token_embedder import TokenEmbedder, table_size


@TokenEmbedder.register("character_lstm")
class CharacterLstmTokenEmbedder(TokenEmbedder):
    """Embeds each character and runs a BiLSTM over the characters of each word; the word's vector is the
    forward LSTM's last state and the backward LSTM's first.

    Registered as a `TokenEmbedder` with name "character_lstm".

    Parameters
        embedding_dim: int                     E, size of a character vector.
        hidden_size: int                       H per direction.
        num_embeddings: Optional[int] = None   character vocabulary size; default: the size of
                                               `vocab_namespace` in the injected `vocab`.
        vocab_namespace: str = "token_characters"
        dropout: float = 0.0                   on the character vectors.
        vocab: Optional[Vocabulary] = None     injected by lmlab.
    Inputs
        ids: (B, T, C) long character ids (the "characters" indexer), 0 is padding.
    Outputs
        (B, T, 2H) float; zeros for padded words (no non-zero character id).
    Notes
        The B*T words are packed by length and run as one batch; padding words never enter the LSTM.
        Initialisation as AllenNLP's "character_encoding" with an "lstm" encoder: Xavier-uniform character
        vectors (the padding one zero), torch's default for the LSTM.
    """

    def __init__(self, embedding_dim: int, hidden_size: int, num_embeddings: Optional[int] = None,
                 vocab_namespace: str = "token_characters", dropout: Probability = 0.0,
                 vocab: Optional[Vocabulary] = None) -> None:
        super().__init__()
        num_embeddings = table_size(num_embeddings, vocab, vocab_namespace)
        self.hidden_size = hidden_size
        self.char_embedding = torch.nn.Embedding(num_embeddings, embedding_dim, padding_idx=0)
        xavier_uniform_rows_(self.char_embedding.weight, 0)  # AllenNLP's character vectors (see `Embedding`)
        self.dropout = torch.nn.Dropout(dropout)
        self.lstm = torch.nn.LSTM(embedding_dim, hidden_size, batch_first=True, bidirectional=True)

    def get_output_dim(self) -> int:
        return 2 * self.hidden_size

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        batch_size, timesteps, num_chars = ids.shape
        words = ids.reshape(batch_size * timesteps, num_chars)  # (N, C), N = B*T
        lengths = (words != 0).sum(dim=1)  # (N,)
        embedded = self.dropout(self.char_embedding(words))  # (N, C, E)
        # every word gets at least one step so that packing accepts it; padding words are zeroed below
        packed = pack_padded_sequence(embedded, lengths.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        _, (final, _) = self.lstm(packed)  # (2, N, H): forward's last state, backward's state at the first char
        encoded = torch.cat([final[0], final[1]], dim=-1)  # (N, 2H)
        encoded = encoded * (lengths > 0).unsqueeze(1).to(encoded.dtype)
        return encoded.view(batch_size, timesteps, 2 * self.hidden_size)  # (B, T, 2H)

    def extra_repr(self) -> str:
        return f"hidden_size={self.hidden_size}"
