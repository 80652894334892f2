"""The CRF against brute-force enumeration of every tag sequence, on ragged batches."""
import itertools
import math

import pytest
import torch

from lmlab.data.label_codings import allowed_transitions
from lmlab.modules.conditional_random_field import ConditionalRandomField

pytestmark = pytest.mark.cross_path  # compares two code paths: re-run under every CPU kernel level

LENGTHS = [4, 1, 3, 0, 2]


def ragged(num_tags, lengths=LENGTHS, seed=0):
    generator = torch.Generator().manual_seed(seed)
    timesteps = max(lengths)
    logits = torch.randn(len(lengths), timesteps, num_tags, generator=generator, dtype=torch.float64)
    mask = torch.arange(timesteps).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    return logits, mask


def make_crf(num_tags, seed=1, **options):
    torch.manual_seed(seed)
    return ConditionalRandomField(num_tags, **options).double()


def path_score(crf, logits, path):
    with torch.no_grad():
        total = crf.start_transitions[path[0]] + crf.end_transitions[path[-1]]
        total = total + sum(logits[t, tag] for t, tag in enumerate(path))
        return float(total + sum(crf.transitions[a, b] for a, b in zip(path[:-1], path[1:], strict=True)))


def all_paths(crf, logits, length, allowed=None):
    """{path: score} of every tag sequence of `length` (only the allowed ones when a table is given)."""
    num_tags = crf.num_tags
    paths = {}
    for path in itertools.product(range(num_tags), repeat=length):
        if allowed is not None:
            steps = zip((num_tags,) + path, path + (num_tags + 1,), strict=True)
            if not all(allowed[a][b] for a, b in steps):
                continue
        paths[path] = path_score(crf, logits, path)
    return paths


@pytest.mark.parametrize("num_tags", [1, 2, 3])
@pytest.mark.parametrize("include_start_end", [True, False])
def test_log_partition_score_and_likelihood_equal_brute_force(num_tags, include_start_end):
    crf = make_crf(num_tags, include_start_end_transitions=include_start_end)
    logits, mask = ragged(num_tags)
    tags = torch.randint(0, num_tags, mask.shape, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        partition = crf.log_partition(logits, mask)
        scores = crf.score(logits, tags, mask)
        likelihood = crf(logits, tags, mask)
    for row, length in enumerate(LENGTHS):
        if length == 0:
            assert partition[row] == scores[row] == likelihood[row] == 0
            continue
        paths = all_paths(crf, logits[row], length)
        expected = math.log(sum(math.exp(score) for score in paths.values()))
        assert partition[row].item() == pytest.approx(expected, abs=1e-10)
        gold = tuple(tags[row, :length].tolist())
        assert scores[row].item() == pytest.approx(paths[gold], abs=1e-10)
        assert likelihood[row].item() == pytest.approx(paths[gold] - expected, abs=1e-10)


@pytest.mark.parametrize("num_tags", [1, 2, 3])
def test_viterbi_and_top_k_equal_brute_force(num_tags):
    crf = make_crf(num_tags)
    logits, mask = ragged(num_tags)
    with torch.no_grad():
        best, best_scores = crf.viterbi_decode(logits, mask)
        top, top_scores = crf.viterbi_decode(logits, mask, top_k=5)
    assert best.shape == mask.shape and top.shape == (len(LENGTHS), 5, mask.shape[1])
    assert (best[~mask] == 0).all() and (top[~mask.unsqueeze(1).expand_as(top)] == 0).all()
    for row, length in enumerate(LENGTHS):
        if length == 0:
            assert best_scores[row] == 0 and (top_scores[row] == 0).all()
            continue
        ranked = sorted(all_paths(crf, logits[row], length).items(), key=lambda item: -item[1])
        assert tuple(best[row, :length].tolist()) == ranked[0][0]
        assert best_scores[row].item() == pytest.approx(ranked[0][1], abs=1e-10)
        for rank in range(5):
            if rank < len(ranked):
                path = tuple(top[row, rank, :length].tolist())
                assert top_scores[row, rank].item() == pytest.approx(ranked[rank][1], abs=1e-10)
                assert path_score(crf, logits[row], path) == pytest.approx(ranked[rank][1], abs=1e-10)
            else:  # fewer paths than asked for
                assert top_scores[row, rank].item() == float("-inf")
        paths = [tuple(top[row, rank, :length].tolist()) for rank in range(min(5, len(ranked)))]
        assert len(set(paths)) == len(paths)


def test_constraints_forbid_exactly_what_the_label_coding_forbids():
    labels = ["O", "B-X", "I-X", "E-X", "S-X"]
    allowed = allowed_transitions(labels, "BIOES")
    crf = make_crf(len(labels), constraints=allowed)
    unconstrained = make_crf(len(labels))
    lengths = [4, 3, 1, 2]
    logits, mask = ragged(len(labels), lengths, seed=5)
    # reward forbidden moves, so that an unconstrained decoder would take them
    with torch.no_grad():
        for model in (crf, unconstrained):
            model.transitions.copy_(torch.tensor([[0.0 if allowed[a][b] else 5.0 for b in range(5)] for a in range(5)]))
        best, scores = crf.viterbi_decode(logits, mask)
        top, top_scores = crf.viterbi_decode(logits, mask, top_k=3)
        free, _ = unconstrained.viterbi_decode(logits, mask)
    violations = 0
    for row, length in enumerate(lengths):
        ranked = sorted(all_paths(crf, logits[row], length, allowed).items(), key=lambda item: -item[1])
        assert tuple(best[row, :length].tolist()) == ranked[0][0]
        assert scores[row].item() == pytest.approx(ranked[0][1], abs=1e-10)
        found = min(3, len(ranked))  # a one-token BIOES sentence has only two allowed paths: O and S-X
        assert [tuple(path[:length]) for path in top[row, :found].tolist()] == [path for path, _ in ranked[:found]]
        assert (top_scores[row, found:] == float("-inf")).all()
        path = free[row, :length].tolist()
        steps = zip([5] + path, path + [6], strict=True)
        violations += not all(allowed[a][b] for a, b in steps)
    assert violations > 0  # the constraints made a difference
    with pytest.raises(ValueError, match="expected a 7 x 7 table"):
        ConditionalRandomField(5, constraints=[[True] * 5] * 5)


def test_likelihood_gradient_is_expected_counts_minus_gold_and_decoding_is_batch_invariant():
    crf = make_crf(3)
    logits, mask = ragged(3)
    tags = torch.randint(0, 3, mask.shape, generator=torch.Generator().manual_seed(4))
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x: crf(x, tags, mask), (logits,))
    with torch.no_grad():
        batched, batched_scores = crf.viterbi_decode(logits, mask, top_k=2)
        for row, length in enumerate(LENGTHS):
            if length:
                alone, alone_scores = crf.viterbi_decode(logits[row:row + 1, :length], mask[row:row + 1, :length],
                                                         top_k=2)
                assert torch.equal(alone[0], batched[row, :, :length])
                assert torch.allclose(alone_scores[0], batched_scores[row])


def test_float32_logits_and_no_constraints_repr():
    crf = ConditionalRandomField(4)
    logits = torch.randn(2, 3, 4)
    mask = torch.ones(2, 3, dtype=torch.bool)
    tags, scores = crf.viterbi_decode(logits.half().float(), mask)
    assert tags.dtype == torch.int64 and scores.dtype == torch.float32
    assert "constrained=False" in repr(crf)
    with pytest.raises(ValueError, match="top_k must be at least 1"):
        crf.viterbi_decode(logits, mask, top_k=0)


@pytest.mark.parametrize("batch_size, timesteps", [(3, 0), (0, 0), (0, 4)])
def test_zero_length_batches_get_empty_tags_and_zero_scores(batch_size, timesteps):
    crf = make_crf(3, constraints=allowed_transitions(["B-X", "I-X", "O"], "BIO"))
    logits = torch.randn(batch_size, timesteps, 3, dtype=torch.float64)
    mask = torch.ones(batch_size, timesteps, dtype=torch.bool)
    tags = torch.zeros(batch_size, timesteps, dtype=torch.long)
    best, score = crf.viterbi_decode(logits, mask)
    assert best.shape == (batch_size, timesteps) and score.tolist() == [0.0] * batch_size
    k_best, k_scores = crf.viterbi_decode(logits, mask, top_k=2)
    assert k_best.shape == (batch_size, 2, timesteps) and k_scores.shape == (batch_size, 2)
    if timesteps == 0:
        assert k_scores.abs().sum() == 0
    assert crf(logits, tags, mask).shape == crf.log_partition(logits, mask).shape == (batch_size,)
    assert crf.log_partition(logits, mask).abs().sum() == 0 or timesteps > 0
