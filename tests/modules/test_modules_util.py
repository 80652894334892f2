import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.modules.util import (
    get_text_field_mask,
    get_token_ids,
    masked_mean,
    reverse_padded_rows,
    sequence_lengths,
    zero_padding,
)


def test_mask_from_token_ids_and_from_characters():
    ids = torch.tensor([[4, 2, 0], [3, 0, 0]])
    assert torch.equal(get_text_field_mask({"tokens": {"tokens": ids}}),
                       torch.tensor([[True, True, False], [True, False, False]]))
    chars = torch.tensor([[[1, 2], [3, 0], [0, 0]], [[0, 5], [0, 0], [0, 0]]])  # (B, T, C)
    mask = get_text_field_mask({"token_characters": {"token_characters": chars}})
    assert mask.dtype == torch.bool
    assert torch.equal(mask, torch.tensor([[True, True, False], [True, False, False]]))


def test_mask_uses_first_indexer_and_explicit_mask_and_wrapping_dims():
    ids = torch.tensor([[4, 0]])
    explicit = torch.tensor([[1, 1]])
    assert torch.equal(get_text_field_mask({"tokens": {"tokens": ids, "mask": explicit}}), explicit.bool())
    wrapped = torch.tensor([[[1, 0], [0, 0]]])  # (B, W, T)
    assert torch.equal(get_text_field_mask({"t": {"t": wrapped}}, num_wrapping_dims=1),
                       torch.tensor([[[True, False], [False, False]]]))
    with pytest.raises(ValueError, match="found shape"):
        get_text_field_mask({"t": {"t": torch.zeros(2, dtype=torch.long)}})


def test_get_token_ids_picks_the_named_indexer_and_reports_missing_ones():
    tokens, chars = torch.ones(2, 3, dtype=torch.long), torch.ones(2, 3, 4, dtype=torch.long)
    batch = {"tokens": {"tokens": tokens}, "token_characters": {"token_characters": chars}}
    assert get_token_ids(batch) is tokens
    with pytest.raises(ConfigurationError, match='no indexer "tokenz"; did you mean "tokens"'):
        get_token_ids(batch, "tokenz")


def test_masked_mean_sequence_lengths_and_zero_padding():
    values = torch.tensor([[1.0, 3.0, 100.0], [5.0, 100.0, 100.0], [7.0, 7.0, 7.0]])
    mask = torch.tensor([[True, True, False], [True, False, False], [False, False, False]])
    assert torch.equal(masked_mean(values, mask, dim=1), torch.tensor([2.0, 5.0, 0.0]))
    assert torch.equal(sequence_lengths(mask), torch.tensor([2, 1, 0]))
    padded = zero_padding(torch.full((3, 3, 2), float("nan")), mask)
    assert torch.isnan(padded[mask]).all() and (padded[~mask] == 0).all()


def test_reverse_padded_rows_reverses_each_row_over_its_length_and_is_an_involution():
    x = torch.arange(12.0).view(3, 4, 1)
    lengths = torch.tensor([4, 2, 0])
    reversed_x = reverse_padded_rows(x, lengths)
    assert reversed_x[..., 0].tolist() == [[3, 2, 1, 0], [5, 4, 6, 7], [8, 9, 10, 11]]
    assert torch.equal(reverse_padded_rows(reversed_x, lengths), x)
