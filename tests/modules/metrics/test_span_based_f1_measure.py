"""Span F1 counted as conlleval counts it: hand-made cases with ill-formed tags, and a reference check."""
import pytest
import torch

from lmlab.data.label_codings import to_spans
from lmlab.data.vocabulary import Vocabulary
from lmlab.modules.metrics import SpanBasedF1Measure

LABELS = {"BIO": ["O", "B-NP", "I-NP", "B-VP", "I-VP"],
          "IOB1": ["O", "I-NP", "B-NP", "I-VP", "B-VP"],
          "BIOES": ["O", "B-NP", "I-NP", "E-NP", "S-NP", "B-VP", "I-VP", "E-VP", "S-VP"]}


def label_vocab(labels):
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(labels, "labels")
    return vocab


def ids(labels, tags):
    return torch.tensor([[labels.index(tag) for tag in row] for row in tags])


def test_hand_made_bio_cases_with_ill_formed_predictions():
    labels = LABELS["BIO"]
    metric = SpanBasedF1Measure(label_vocab(labels), "labels", "BIO")
    gold = [["B-NP", "I-NP", "O", "B-VP", "O"],
            ["B-NP", "B-NP", "I-NP", "O", "O"]]
    # row 0: I-NP after O is a chunk (1, 2), wrong; I-VP after O is a chunk (3, 4), right
    # row 1: one chunk (0, 3) where gold has (0, 1) and (1, 3)
    predicted = [["O", "I-NP", "O", "I-VP", "O"],
                 ["B-NP", "I-NP", "I-NP", "O", "O"]]
    mask = torch.tensor([[True] * 5, [True, True, True, False, False]])
    metric(ids(labels, predicted), ids(labels, gold), mask)
    result = metric.get_metric()
    # predicted chunks: NP(1,2), VP(3,4), NP(0,3) = 3; gold: NP(0,2), VP(3,4), NP(0,1), NP(1,3) = 4; correct: VP(3,4)
    assert result["precision-overall"] == pytest.approx(1 / 3)
    assert result["recall-overall"] == pytest.approx(1 / 4)
    assert result["f1-measure-overall"] == pytest.approx(2 / 7)
    assert result["precision-VP"] == result["recall-VP"] == result["f1-measure-VP"] == 1.0
    assert result["precision-NP"] == 0.0 and result["f1-measure-NP"] == 0.0
    assert set(result) == {f"{m}-{t}" for m in ("precision", "recall", "f1-measure") for t in ("NP", "VP", "overall")}


def test_padding_never_counts_and_reset_clears():
    labels = LABELS["BIOES"]
    metric = SpanBasedF1Measure(label_vocab(labels), "labels", "BIOES")
    gold = ids(labels, [["B-NP", "E-NP", "S-VP", "S-NP"]])
    predicted = ids(labels, [["B-NP", "I-NP", "S-NP", "S-NP"]])  # B-NP I-NP ends at the first padding
    metric(predicted, gold, torch.tensor([[True, True, False, False]]))
    assert metric.get_metric(reset=True)["f1-measure-overall"] == 1.0
    assert metric.get_metric()["f1-measure-overall"] == 0.0


@pytest.mark.parametrize("coding", sorted(LABELS))
def test_matches_the_python_reference_on_random_sequences(coding):
    labels = LABELS[coding]
    metric = SpanBasedF1Measure(label_vocab(labels), "labels", coding)
    generator = torch.Generator().manual_seed(0)
    lengths = torch.randint(0, 11, (64,), generator=generator)
    mask = torch.arange(10).unsqueeze(0) < lengths.unsqueeze(1)
    predicted = torch.randint(0, len(labels), (64, 10), generator=generator)
    gold = torch.randint(0, len(labels), (64, 10), generator=generator)
    scores = torch.nn.functional.one_hot(predicted, len(labels)).float()  # scores work as well as ids
    metric(scores, gold, mask)
    counts = {name: [0, 0, 0] for name in ("NP", "VP")}
    for row, length in enumerate(lengths.tolist()):
        found = set(to_spans([labels[i] for i in predicted[row, :length].tolist()], coding))
        expected = set(to_spans([labels[i] for i in gold[row, :length].tolist()], coding))
        for chunk_type, count in counts.items():
            count[0] += len({s for s in found & expected if s[0] == chunk_type})
            count[1] += len({s for s in found if s[0] == chunk_type})
            count[2] += len({s for s in expected if s[0] == chunk_type})
    result = metric.get_metric()
    for chunk_type, (correct, found, expected) in counts.items():
        assert result[f"precision-{chunk_type}"] == pytest.approx(correct / found)
        assert result[f"recall-{chunk_type}"] == pytest.approx(correct / expected)
    total = [sum(count[i] for count in counts.values()) for i in range(3)]
    assert result["precision-overall"] == pytest.approx(total[0] / total[1])
    assert result["recall-overall"] == pytest.approx(total[0] / total[2])


def test_labels_outside_the_coding_are_refused():
    with pytest.raises(ValueError, match='label "S-NP" is not valid in the BIO coding'):
        SpanBasedF1Measure(label_vocab(["O", "S-NP"]), "labels", "BIO")
