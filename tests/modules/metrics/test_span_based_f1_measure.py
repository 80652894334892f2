"""Span F1 as conlleval counts it, and strict as seqeval's strict mode: hand-made cases with ill-formed tags, and
independent oracles (seqeval; a conlleval-style count written here) on random ill-formed and well-formed tags."""
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


LENGTHS = torch.randint(0, 11, (64,), generator=torch.Generator().manual_seed(0)).tolist()  # 0-10 tokens a row


def random_tags(coding, well_formed, seed):
    """Tag sequences of LENGTHS: uniformly random labels (ill-formed), or random chunks written in `coding`
    here, without lmlab's code (well-formed)."""
    generator = torch.Generator().manual_seed(seed)
    labels = LABELS[coding]
    sequences = []
    for length in LENGTHS:
        if not well_formed:
            sequences.append([labels[int(i)] for i in torch.randint(0, len(labels), (length,), generator=generator)])
            continue
        tags, previous_type = [], None
        while len(tags) < length:
            size = min(int(torch.randint(1, 4, (), generator=generator)), length - len(tags))
            chunk_type = ["NP", "VP", None][int(torch.randint(0, 3, (), generator=generator))]
            if chunk_type is None:
                tags += ["O"] * size
            elif coding == "BIOES":
                tags += [f"S-{chunk_type}"] if size == 1 else \
                    [f"B-{chunk_type}"] + [f"I-{chunk_type}"] * (size - 2) + [f"E-{chunk_type}"]
            elif coding == "BIO" or previous_type == chunk_type:  # IOB1: B only after a chunk of its type
                tags += [f"B-{chunk_type}"] + [f"I-{chunk_type}"] * (size - 1)
            else:
                tags += [f"I-{chunk_type}"] * size
            previous_type = chunk_type
        sequences.append(tags)
    return sequences


def lmlab_metric(coding, gold, predicted, strict=False):
    labels = LABELS[coding]
    metric = SpanBasedF1Measure(label_vocab(labels), "labels", coding, strict=strict)
    width = max(1, max(len(row) for row in gold))
    lengths = torch.tensor([len(row) for row in gold])
    mask = torch.arange(width).unsqueeze(0) < lengths.unsqueeze(1)
    pad = [[labels[0]] * (width - len(row)) for row in gold]
    predicted_scores = torch.nn.functional.one_hot(ids(labels, [p + q for p, q in zip(predicted, pad, strict=True)]),
                                                   len(labels)).float()  # scores work as well as ids
    metric(predicted_scores, ids(labels, [g + q for g, q in zip(gold, pad, strict=True)]), mask)
    return metric.get_metric()


@pytest.mark.parametrize("well_formed", [False, True], ids=["ill-formed", "well-formed"])
@pytest.mark.parametrize("strict", [False, True], ids=["conlleval", "strict"])
@pytest.mark.parametrize("coding", ["BIO", "BIOES"])
def test_equals_seqeval(coding, strict, well_formed):
    """seqeval's default mode is its port of conlleval; its strict mode reads only well-formed chunks."""
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2, IOBES

    gold, predicted = (random_tags(coding, well_formed, seed) for seed in (0, 1))
    result = lmlab_metric(coding, gold, predicted, strict)
    options = {"mode": "strict", "scheme": IOBES if coding == "BIOES" else IOB2} if strict else {}
    reference = classification_report(gold, predicted, output_dict=True, zero_division=0, **options)
    assert {"NP", "VP"} <= set(reference)  # both types occur, so every figure below is compared
    for name, key in (("NP", "NP"), ("VP", "VP"), ("overall", "micro avg")):
        for measure, reference_measure in (("precision", "precision"), ("recall", "recall"),
                                           ("f1-measure", "f1-score")):
            assert result[f"{measure}-{name}"] == pytest.approx(float(reference[key][reference_measure])), \
                (measure, name)
    if well_formed:  # strict and conlleval read well-formed tags alike
        assert lmlab_metric(coding, gold, predicted, not strict) == result


def conlleval_counts(gold, predicted):
    """{type: [correct, predicted, gold]} counted as conlleval.pl counts B/I/O tags: a token stream with an
    O between sentences, chunk starts and ends from neighbouring tags, and a chunk correct when both
    streams start it together and end it together with the same type."""
    def split(tag):
        return (tag, "") if tag == "O" else tuple(tag.split("-", 1))

    def ends(previous, current):
        (previous_prefix, previous_type), (prefix, chunk_type) = previous, current
        return (previous_prefix in "BI" and prefix in "BO") or (previous_prefix != "O" and previous_type != chunk_type)

    def starts(previous, current):
        (previous_prefix, previous_type), (prefix, chunk_type) = previous, current
        return prefix == "B" or (previous_prefix == "O" and prefix == "I") or \
            (prefix != "O" and previous_type != chunk_type)

    counts = {"NP": [0, 0, 0], "VP": [0, 0, 0]}
    stream = [(split(g), split(p)) for g_row, p_row in zip(gold, predicted, strict=True)
              for g, p in [*zip(g_row, p_row, strict=True), ("O", "O")]]
    last_gold = last_guess = ("O", "")
    in_correct = False
    for current_gold, current_guess in stream:
        end_gold, end_guess = ends(last_gold, current_gold), ends(last_guess, current_guess)
        if in_correct:
            if end_gold and end_guess and last_guess[1] == last_gold[1]:
                in_correct = False
                counts[last_gold[1]][0] += 1
            elif end_gold != end_guess or current_guess[1] != current_gold[1]:
                in_correct = False
        start_gold, start_guess = starts(last_gold, current_gold), starts(last_guess, current_guess)
        if start_gold and start_guess and current_guess[1] == current_gold[1]:
            in_correct = True
        if start_gold:
            counts[current_gold[1]][2] += 1
        if start_guess:
            counts[current_guess[1]][1] += 1
        last_gold, last_guess = current_gold, current_guess
    return counts


@pytest.mark.parametrize("well_formed", [False, True], ids=["ill-formed", "well-formed"])
def test_iob1_equals_a_conlleval_count(well_formed):
    gold, predicted = (random_tags("IOB1", well_formed, seed) for seed in (2, 3))
    assert any(tag.startswith("B-") for row in gold + predicted for tag in row)  # B-X occurs: IOB1 is exercised
    result = lmlab_metric("IOB1", gold, predicted)
    counts = conlleval_counts(gold, predicted)
    counts["overall"] = [sum(count[i] for count in counts.values()) for i in range(3)]
    for name, (correct, found, expected) in counts.items():
        assert result[f"precision-{name}"] == pytest.approx(correct / found)
        assert result[f"recall-{name}"] == pytest.approx(correct / expected)


def test_strict_reading_of_hand_made_cases():
    bio = ["B-NP", "I-NP", "O", "I-NP", "B-VP", "I-NP"]  # the lone I-NPs belong to no chunk
    assert to_spans(bio, "BIO", strict=True) == [("NP", 0, 2), ("VP", 4, 5)]
    assert to_spans(bio, "BIO") == [("NP", 0, 2), ("NP", 3, 4), ("VP", 4, 5), ("NP", 5, 6)]
    bioes = ["B-NP", "I-NP", "B-NP", "E-NP", "S-VP", "B-VP", "I-VP", "O", "E-NP"]  # B I unclosed; B I O unclosed
    assert to_spans(bioes, "BIOES", strict=True) == [("NP", 2, 4), ("VP", 4, 5)]
    labels = LABELS["BIOES"]
    result = lmlab_metric("BIOES", [bioes], [bioes], strict=True)
    assert result["recall-overall"] == 1.0 and result["precision-overall"] == 1.0
    with pytest.raises(ValueError, match="strict span reading is defined for the BIO"):
        SpanBasedF1Measure(label_vocab(LABELS["IOB1"]), "labels", "IOB1", strict=True)
    assert labels[0] == "O"


def test_labels_outside_the_coding_are_refused():
    with pytest.raises(ValueError, match='label "S-NP" is not valid in the BIO coding'):
        SpanBasedF1Measure(label_vocab(["O", "S-NP"]), "labels", "BIO")
