
import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.modules.seq2seq_encoders import GruSeq2SeqEncoder, LstmSeq2SeqEncoder, Seq2SeqEncoder


def _ones(batch, length):
    return torch.ones(batch, length, dtype=torch.bool)


def test_bidirectional_cannot_be_stateful_and_reports_its_sizes():
    with pytest.raises(ConfigurationError, match="bidirectional"):
        Seq2SeqEncoder.from_params({"type": "gru", "input_size": 4, "hidden_size": 3, "bidirectional": True,
                                    "stateful": True})
    encoder = LstmSeq2SeqEncoder(4, 3, bidirectional=True)
    assert encoder.get_input_dim() == 4 and encoder.get_output_dim() == 6
    assert not encoder.supports_state()
    with pytest.raises(ValueError, match="LstmSeq2SeqEncoder cannot carry its state between batches"):
        encoder.set_stateful(True)
    assert isinstance(Seq2SeqEncoder.from_params({"type": "gru", "input_size": 2, "hidden_size": 2}),
                      GruSeq2SeqEncoder)


def test_padded_positions_are_zero_and_rows_without_tokens_give_zeros():
    encoder = LstmSeq2SeqEncoder(4, 3)
    mask = torch.tensor([[True, True, False], [False, False, False]])
    out = encoder(torch.randn(2, 3, 4), mask)
    assert out.shape == (2, 3, 3)
    assert torch.equal(out[~mask], torch.zeros(4, 3))
