"""Chunk (span) precision, recall and F1, counted exactly as CoNLL's `conlleval` script counts them, or as
`seqeval`'s strict mode does."""
from typing import Dict, List, Union

import torch

from lmlab.data.label_codings import OUTSIDE, check_strict_coding, parse_label
from lmlab.data.vocabulary import Vocabulary
from lmlab.modules.metrics.metric import Metric

_PREFIX_CODES = {"O": 0, "B": 1, "I": 2, "E": 3, "S": 4}
_O, _B, _I, _E, _S = 0, 1, 2, 3, 4


class SpanBasedF1Measure(Metric):
    """Precision, recall and F1 of chunks, per chunk type and overall, over a stream of tag sequences.

    A chunk is correct when a predicted and a gold chunk have the same type, start and end. Chunks are
    read from tags as `conlleval` reads them (`lmlab.data.label_codings.to_spans`), so ill-formed
    predictions are scored as the shared tasks scored them: an I-X after O starts a chunk, a change of
    type ends one. With `strict`, only well-formed chunks count, as in `seqeval`'s strict mode
    (`to_spans(..., strict=True)`): B-X I-X* in BIO, S-X or B-X I-X* E-X in BIOES.

    Parameters
        vocabulary: Vocabulary        maps tag ids to labels ("B-NP", "O", ...).
        tag_namespace: str = "labels"
        label_encoding: str = "BIO"   "IOB1", "BIO" (= "IOB2") or "BIOES": the coding of the labels.
        strict: bool = False          read only well-formed chunks (BIO and BIOES only).
    Inputs
        predictions: (B, T) long tag ids, or (B, T, K) tag scores (the argmax is the prediction);
        gold_labels: (B, T) long;  mask: (B, T) bool, True = token, padding only at the end of a row.
    Outputs
        `get_metric()` -> {"precision-overall", "recall-overall", "f1-measure-overall", and
        "precision-X", "recall-X", "f1-measure-X" for every chunk type X of the tag vocabulary}: floats in
        [0, 1], 0.0 where undefined (no predicted or no gold chunk).
    Notes
        Fully vectorised over the batch (no loop over sentences or tokens); the counts stay on the
        device and `get_metric` is the only host-device sync.
    """

    totals = ("_true_positives", "_predicted", "_gold")

    def __init__(self, vocabulary: Vocabulary, tag_namespace: str = "labels", label_encoding: str = "BIO",
                 strict: bool = False) -> None:
        self.strict = strict
        # strict BIOES: a chunk also grows over E-X (which closes it) and must end with E-X or be one S-X
        self._strict_bioes = strict and check_strict_coding(label_encoding) == "BIOES"
        labels = [vocabulary.get_token_from_index(index, tag_namespace)
                  for index in range(vocabulary.get_vocab_size(tag_namespace))]
        parsed = [parse_label(label, label_encoding) for label in labels]
        self.types: List[str] = sorted({chunk_type for prefix, chunk_type in parsed if prefix != OUTSIDE})
        type_ids = {chunk_type: index for index, chunk_type in enumerate(self.types)}
        # per tag id: its prefix code and its chunk type id (len(types) for O, a slot nobody reads)
        self._prefixes = torch.tensor([_PREFIX_CODES[prefix] for prefix, _ in parsed], dtype=torch.long)
        self._type_ids = torch.tensor([type_ids.get(chunk_type, len(self.types)) for _, chunk_type in parsed],
                                      dtype=torch.long)
        self._true_positives: Union[torch.Tensor, int] = 0
        self._predicted: Union[torch.Tensor, int] = 0
        self._gold: Union[torch.Tensor, int] = 0

    def __call__(self, predictions: torch.Tensor, gold_labels: torch.Tensor, mask: torch.Tensor) -> None:
        if predictions.dim() == gold_labels.dim() + 1:
            predictions = predictions.argmax(dim=-1)
        predictions, gold_labels, mask = predictions.detach(), gold_labels.detach(), mask.bool()
        if self._prefixes.device != predictions.device:
            self._prefixes = self._prefixes.to(predictions.device)
            self._type_ids = self._type_ids.to(predictions.device)
        predicted_starts, predicted_keys = self._chunks(predictions, mask)
        gold_starts, gold_keys = self._chunks(gold_labels, mask)
        correct = predicted_starts & gold_starts & (predicted_keys == gold_keys).all(dim=-1)  # (B, T)
        types = self._type_ids[gold_labels.masked_fill(~mask, 0)]  # (B, T): meaningful where a gold chunk starts
        self._true_positives = self._true_positives + self._count(types, correct)
        self._predicted = self._predicted + self._count(self._type_ids[predictions.masked_fill(~mask, 0)],
                                                        predicted_starts)
        self._gold = self._gold + self._count(types, gold_starts)

    def _chunks(self, tags: torch.Tensor, mask: torch.Tensor):
        """(starts (B, T) bool: a chunk starts here; keys (B, T, 2): its type and last position)."""
        prefix = self._prefixes[tags].masked_fill(~mask, _O)  # (B, T); padding reads as O
        chunk_type = self._type_ids[tags].masked_fill(~mask, -1)  # (B, T)
        previous_prefix = torch.nn.functional.pad(prefix[:, :-1], (1, 0), value=_O)
        previous_type = torch.nn.functional.pad(chunk_type[:, :-1], (1, 0), value=-1)
        next_prefix = torch.nn.functional.pad(prefix[:, 1:], (0, 1), value=_O)
        next_type = torch.nn.functional.pad(chunk_type[:, 1:], (0, 1), value=-1)
        inside = prefix != _O
        opening = (prefix == _B) | (prefix == _S)
        closing = (prefix == _E) | (prefix == _S)
        if self.strict:
            # seqeval's strict mode: a chunk opens at B-X or S-X only and grows over the I-X (BIOES: and
            # E-X) of its type that follow; BIOES keeps it only if it was closed by E-X or is one S-X
            starts = opening
            continued = (next_prefix == _I) | ((next_prefix == _E) & self._strict_bioes)
            ends = inside & (closing | ~continued | (next_type != chunk_type))
        else:
            # conlleval's startOfChunk and endOfChunk (see lmlab.data.label_codings.chunk_starts / chunk_ends)
            starts = inside & (opening | (previous_prefix == _O) | (previous_prefix == _E)
                               | (previous_prefix == _S) | (previous_type != chunk_type))
            ends = inside & (closing | (next_prefix == _B) | (next_prefix == _S)
                             | (next_prefix == _O) | (next_type != chunk_type))  # a chunk ends at t (inclusive)
        timesteps = tags.shape[1]
        positions = torch.arange(timesteps, device=tags.device).expand_as(tags)  # (B, T)
        end_positions = torch.where(ends, positions, timesteps)
        # the end of the chunk starting at t: the first end at or after t (a reversed running minimum)
        following_end = end_positions.flip(1).cummin(dim=1).values.flip(1)  # (B, T)
        if self._strict_bioes:
            last_prefix = prefix.gather(1, following_end.clamp(max=timesteps - 1))  # (B, T)
            starts = starts & ((last_prefix == _E) | (last_prefix == _S))
        return starts, torch.stack([chunk_type, following_end], dim=-1)

    def _count(self, types: torch.Tensor, selected: torch.Tensor) -> torch.Tensor:
        """(number of types + 1,) count of selected positions per type (the last slot is O's)."""
        counts = torch.zeros(len(self.types) + 1, dtype=torch.long, device=types.device)
        return counts.scatter_add_(0, types.flatten(), selected.flatten().long())

    def get_metric(self, reset: bool = False) -> Dict[str, float]:
        def as_list(value: Union[torch.Tensor, int]) -> List[int]:
            return value.tolist()[:-1] if isinstance(value, torch.Tensor) else [0] * len(self.types)

        true_positives, predicted, gold = (as_list(v) for v in (self._true_positives, self._predicted, self._gold))
        metrics: Dict[str, float] = {}
        for name, tp, found, expected in zip(self.types, true_positives, predicted, gold, strict=True):
            metrics.update(_scores(name, tp, found, expected))
        metrics.update(_scores("overall", sum(true_positives), sum(predicted), sum(gold)))
        if reset:
            self.reset()
        return metrics

    def reset(self) -> None:
        self._true_positives, self._predicted, self._gold = 0, 0, 0


def _scores(name: str, true_positives: int, predicted: int, gold: int) -> Dict[str, float]:
    precision = true_positives / predicted if predicted else 0.0
    recall = true_positives / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {f"precision-{name}": precision, f"recall-{name}": recall, f"f1-measure-{name}": f1}
