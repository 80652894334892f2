"""Label codings: conlleval's reading of tag sequences (ill-formed ones included), conversions, constraints."""
import itertools
from pathlib import Path

import pytest

from lmlab.data.label_codings import allowed_transitions, convert, from_spans, parse_label, to_spans

CONLL2000 = Path(__file__).resolve().parents[3] / "shared" / "data" / "conll2000" / "train.txt"
LABELS = {"IOB1": ["O", "I-X", "B-X", "I-Y"],
          "BIO": ["O", "B-X", "I-X", "B-Y", "I-Y"],
          "BIOES": ["O", "B-X", "I-X", "E-X", "S-X", "S-Y", "B-Y", "E-Y"]}


def test_parse_label():
    assert parse_label("O", "BIO") == ("O", "")
    assert parse_label("B-NP", "BIO") == ("B", "NP")
    assert parse_label("S-B-X", "BIOES") == ("S", "B-X")  # the type is everything after the first dash
    for label, coding in [("S-NP", "BIO"), ("E-NP", "IOB1"), ("B", "BIO"), ("B-", "BIO"), ("BB-NP", "BIO"),
                          ("NP", "BIOES"), ("o", "BIO")]:
        with pytest.raises(ValueError, match=f'label "{label}" is not valid in the {coding} coding'):
            parse_label(label, coding)
    with pytest.raises(ValueError, match='unknown label coding "BILOU"'):
        parse_label("O", "BILOU")


@pytest.mark.parametrize("coding,tags,spans", [
    ("BIO", "B-NP I-NP O B-VP", [("NP", 0, 2), ("VP", 3, 4)]),
    ("BIO", "B-NP B-NP I-NP", [("NP", 0, 1), ("NP", 1, 3)]),
    # ill-formed, read as conlleval reads them: I-X after O or after another type starts a chunk
    ("BIO", "O I-NP I-NP", [("NP", 1, 3)]),
    ("BIO", "I-NP B-VP I-NP", [("NP", 0, 1), ("VP", 1, 2), ("NP", 2, 3)]),
    ("BIO", "B-NP I-VP I-VP O", [("NP", 0, 1), ("VP", 1, 3)]),
    ("IOB1", "I-NP I-NP B-NP I-VP", [("NP", 0, 2), ("NP", 2, 3), ("VP", 3, 4)]),
    ("IOB1", "B-NP I-NP", [("NP", 0, 2)]),  # ill-formed in IOB1 (B- without a chunk before): still one chunk
    ("BIOES", "B-X I-X E-X S-X S-X O", [("X", 0, 3), ("X", 3, 4), ("X", 4, 5)]),
    ("BIOES", "B-X E-X E-X", [("X", 0, 2), ("X", 2, 3)]),  # ill-formed: E-X always ends a chunk
    ("BIOES", "O E-X I-X", [("X", 1, 2), ("X", 2, 3)]),
    ("BIOES", "B-X I-X", [("X", 0, 2)]),  # never closed: ends with the sentence
    ("BIO", "", []),
])
def test_to_spans_reads_tags_as_conlleval_does(coding, tags, spans):
    assert to_spans(tags.split(), coding) == spans


def test_from_spans_writes_each_coding():
    spans = [("NP", 0, 2), ("NP", 2, 3), ("VP", 3, 4), ("PP", 5, 7)]
    assert from_spans(spans, 8, "BIO") == "B-NP I-NP B-NP B-VP O B-PP I-PP O".split()
    assert from_spans(spans, 8, "IOB2") == from_spans(spans, 8, "BIO")
    assert from_spans(spans, 8, "IOB1") == "I-NP I-NP B-NP I-VP O I-PP I-PP O".split()
    assert from_spans(spans, 8, "BIOES") == "B-NP E-NP S-NP S-VP O B-PP E-PP O".split()
    for bad in ([("X", 0, 2), ("X", 1, 3)], [("X", 2, 2)], [("X", 3, 9)]):
        with pytest.raises(ValueError, match="overlaps another or lies outside"):
            from_spans(bad, 8, "BIO")


@pytest.mark.parametrize("coding", sorted(LABELS))
def test_allowed_sequences_are_exactly_the_ones_that_round_trip(coding):
    """Brute force over every sequence of up to 4 tags: the constraint table allows a sequence iff writing
    its spans back in the same coding gives it unchanged; every sequence converts to every other coding
    and back to its well-formed self."""
    labels = LABELS[coding]
    table = allowed_transitions(labels, coding)
    start, end = len(labels), len(labels) + 1
    for length in range(1, 5):
        for sequence in itertools.product(range(len(labels)), repeat=length):
            tags = [labels[i] for i in sequence]
            steps = zip((start,) + sequence, sequence + (end,), strict=True)
            allowed = all(table[i][j] for i, j in steps)
            normal = convert(tags, coding, coding)
            assert allowed == (normal == tags), tags
            for other in ("IOB1", "BIO", "BIOES"):
                assert convert(convert(tags, coding, other), other, coding) == normal, (tags, other)
                assert to_spans(convert(tags, coding, other), other) == to_spans(tags, coding)


def test_allowed_transitions_shape_and_some_entries():
    labels = ["O", "B-X", "I-X", "B-Y"]
    table = allowed_transitions(labels, "BIO")
    assert len(table) == len(labels) + 2 and all(len(row) == len(labels) + 2 for row in table)
    assert not table[4][2] and table[4][1]  # a sentence cannot start with I-X
    assert not table[3][2] and table[1][2] and table[2][2] and not table[0][2]  # I-X only after B-X/I-X
    assert all(row[5] for row in table[:4])  # any tag may end a BIO sentence


@pytest.mark.skipif(not CONLL2000.is_file(), reason="needs ../shared/data/conll2000")
def test_conll2000_is_well_formed_bio_and_round_trips_through_every_coding():
    sentences, tags = [], []
    for line in CONLL2000.read_text().splitlines():
        if line.strip():
            tags.append(line.split()[2])
        elif tags:
            sentences.append(tags)
            tags = []
    assert len(sentences) == 8936
    for tags in sentences:
        assert convert(tags, "BIO", "BIO") == tags
        for coding in ("IOB1", "BIOES"):
            assert convert(convert(tags, "BIO", coding), coding, "BIO") == tags
