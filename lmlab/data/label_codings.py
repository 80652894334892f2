"""Chunk label codings (IOB1, BIO = IOB2, BIOES): parsing, span extraction as `conlleval` does it,
conversion between codings, and the tag transitions each coding allows.

A label is "O" (outside any chunk) or "<prefix>-<type>", e.g. "B-NP". The codings differ in which
prefixes they use and where:

    IOB1   I-X inside a chunk; B-X only on the first token of a chunk that directly follows a chunk of
           the same type (the original CoNLL-2003 files).
    BIO    B-X on the first token of every chunk, I-X on the others (also called IOB2; CoNLL-2000).
    BIOES  B-X first, I-X middle, E-X last token of a multi-token chunk; S-X a one-token chunk.

Spans are read exactly as the CoNLL shared tasks' `conlleval` script reads a tag sequence (its version
with E and S tags), whatever the coding, so ill-formed sequences get conlleval's interpretation: an I-X
after O or after a chunk of another type starts a new chunk; a change of type always ends a chunk; E-X
and S-X always end one. Writing tags `from_spans` gives the well-formed sequence of the target coding,
so converting between codings goes through spans and repairs ill-formed input the way conlleval
would score it.

With `strict=True` (BIO and BIOES only) spans are read as `seqeval`'s strict mode reads them: only
well-formed chunks count, B-X I-X* in BIO, S-X or B-X I-X* E-X in BIOES; a tag that is not part of one
(an I-X after O, a B-X I-X not closed by E-X in BIOES) belongs to no chunk.

Spans are (type, start, end) with `end` exclusive: tokens[start:end]. Pure Python, no torch.
"""
from typing import List, Literal, Sequence, Tuple

LabelCoding = Literal["IOB1", "BIO", "IOB2", "BIOES"]
"""Coding names a config may use; "IOB2" is another name for "BIO"."""

CODINGS: Tuple[str, ...] = ("IOB1", "BIO", "IOB2", "BIOES")

PREFIXES = {"IOB1": "BI", "BIO": "BI", "IOB2": "BI", "BIOES": "BIES"}
"""The chunk prefixes each coding uses (besides the label "O")."""

OUTSIDE = "O"

Span = Tuple[str, int, int]
"""(chunk type, start, end exclusive)."""


def check_coding(coding: str) -> str:
    """`coding` itself when it is a known coding name, else a `ValueError` listing them."""
    if coding not in PREFIXES:
        raise ValueError(f'unknown label coding "{coding}" (expected one of: {", ".join(CODINGS)})')
    return coding


def parse_label(label: str, coding: str) -> Tuple[str, str]:
    """(prefix, type) of `label`: ("O", "") for "O", ("B", "NP") for "B-NP".

    A `ValueError` says what is wrong when `label` is not "O" nor "<prefix>-<type>" with a prefix of
    `coding` and a non-empty type.
    """
    prefixes = PREFIXES[check_coding(coding)]
    if label == OUTSIDE:
        return OUTSIDE, ""
    prefix, dash, chunk_type = label.partition("-")
    if not dash or not chunk_type or len(prefix) != 1 or prefix not in prefixes:
        expected = ", ".join(f"{p}-TYPE" for p in prefixes)
        raise ValueError(f'label "{label}" is not valid in the {coding} coding (expected O, {expected})')
    return prefix, chunk_type


def chunk_ends(previous: Tuple[str, str], current: Tuple[str, str]) -> bool:
    """conlleval's endOfChunk: does a chunk end between the tokens tagged `previous` and `current`?

    Both are (prefix, type) pairs; use ("O", "") past the end of a sentence.
    """
    (previous_prefix, previous_type), (prefix, chunk_type) = previous, current
    return previous_prefix != OUTSIDE and (previous_prefix in "ES" or prefix in "BSO" or previous_type != chunk_type)


def chunk_starts(previous: Tuple[str, str], current: Tuple[str, str]) -> bool:
    """conlleval's startOfChunk: does a chunk start at the token tagged `current`?

    Both are (prefix, type) pairs; use ("O", "") before the start of a sentence.
    """
    (previous_prefix, previous_type), (prefix, chunk_type) = previous, current
    return prefix != OUTSIDE and (prefix in "BS" or previous_prefix in "OES" or previous_type != chunk_type)


def to_spans(tags: Sequence[str], coding: str, strict: bool = False) -> List[Span]:
    """The chunks of a tag sequence, in order, as conlleval finds them, or only the well-formed ones
    with `strict` (see the module docstring)."""
    parsed = [parse_label(tag, coding) for tag in tags]
    if strict:
        return _strict_spans(parsed, check_strict_coding(coding))
    spans: List[Span] = []
    start = None
    padded = [(OUTSIDE, "")] + parsed + [(OUTSIDE, "")]
    for position, (previous, current) in enumerate(zip(padded[:-1], padded[1:], strict=True)):
        if start is not None and chunk_ends(previous, current):
            spans.append((previous[1], start, position))
            start = None
        if position < len(parsed) and chunk_starts(previous, current):
            start = position
    return spans


def check_strict_coding(coding: str) -> str:
    """`coding` when strict reading is defined for it (BIO, IOB2, BIOES), else a `ValueError`."""
    if check_coding(coding) == "IOB1":
        raise ValueError("strict span reading is defined for the BIO (IOB2) and BIOES codings, not IOB1")
    return coding


def _strict_spans(parsed: Sequence[Tuple[str, str]], coding: str) -> List[Span]:
    spans: List[Span] = []
    position = 0
    while position < len(parsed):
        prefix, chunk_type = parsed[position]
        if prefix not in "BS":  # O, or an I-X / E-X that no B-X opened
            position += 1
            continue
        end = position + 1  # the chunk grows over I-X (and E-X, which closes it) of its own type
        continuations = "IE" if coding == "BIOES" else "I"
        while prefix in "BI" and end < len(parsed) and parsed[end][1] == chunk_type \
                and parsed[end][0] in continuations:
            prefix = parsed[end][0]
            end += 1
        if coding != "BIOES" or prefix in "ES":  # BIOES: a chunk is closed by E-X, or is one S-X
            spans.append((chunk_type, position, end))
        position = end
    return spans


def from_spans(spans: Sequence[Span], length: int, coding: str) -> List[str]:
    """The well-formed `coding` tags of a sequence of `length` tokens with these non-overlapping chunks."""
    coding = check_coding(coding)
    tags = [OUTSIDE] * length
    previous_end, previous_type = -1, ""
    for chunk_type, start, end in sorted(spans, key=lambda span: span[1]):
        if not 0 <= start < end <= length or start < previous_end:
            raise ValueError(f"span ({chunk_type!r}, {start}, {end}) is empty, overlaps another or lies outside "
                             f"a sequence of {length} tokens")
        tags[start:end] = [f"I-{chunk_type}"] * (end - start)
        if coding == "BIOES":
            tags[start] = f"S-{chunk_type}" if end - start == 1 else f"B-{chunk_type}"
            if end - start > 1:
                tags[end - 1] = f"E-{chunk_type}"
        elif coding != "IOB1" or (start == previous_end and chunk_type == previous_type):
            # IOB1 marks a chunk's first token only where it touches a chunk of the same type
            tags[start] = f"B-{chunk_type}"
        previous_end, previous_type = end, chunk_type
    return tags


def convert(tags: Sequence[str], source: str, target: str) -> List[str]:
    """`tags` (in the `source` coding) rewritten in the `target` coding, through their spans."""
    return from_spans(to_spans(tags, source), len(tags), target)


def allowed_transitions(labels: Sequence[str], coding: str) -> List[List[bool]]:
    """Which tag may follow which in well-formed `coding` sequences, as a (K + 2) x (K + 2) table.

    Rows are the tag before, columns the tag after; index K stands for the start of the sentence
    and K + 1 for its end (so `table[K][j]`: may a sentence start with tag j; `table[i][K + 1]`: may it
    end with tag i). `labels[i]` is the label of tag index i. Exactly the sequences that
    `from_spans` can write are allowed, so `convert` leaves an allowed sequence unchanged.
    """
    parsed = [parse_label(label, coding) for label in labels]
    start, end = len(parsed), len(parsed) + 1
    table = [[False] * (len(parsed) + 2) for _ in range(len(parsed) + 2)]
    for j, after in enumerate(parsed):
        table[start][j] = _may_follow((OUTSIDE, ""), after, coding)
        for i, before in enumerate(parsed):
            table[i][j] = _may_follow(before, after, coding)
    for i, before in enumerate(parsed):
        table[i][end] = coding != "BIOES" or before[0] in "OES"
    return table


def _may_follow(before: Tuple[str, str], after: Tuple[str, str], coding: str) -> bool:
    (before_prefix, before_type), (prefix, chunk_type) = before, after
    same_chunk_type = before_prefix != OUTSIDE and before_type == chunk_type
    if coding == "BIOES":
        if before_prefix in "BI":  # inside a chunk: only its continuation
            return prefix in "IE" and before_type == chunk_type
        return prefix in "OBS"
    if coding == "IOB1":
        return prefix != "B" or same_chunk_type
    return prefix != "I" or same_chunk_type  # BIO
