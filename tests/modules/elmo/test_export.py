"""export_elmo: trained lmlab parts -> bilm-tf files -> ElmoBiLm gives the same activations."""
import json
from pathlib import Path

import h5py
import numpy
import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.modules.elmo import (
    ElmoBiLm,
    add_sentence_boundaries,
    batch_to_ids,
    export_bilm,
    export_elmo,
    load_elmo_options,
)
from lmlab.modules.elmo.character_ids import BOS_CHAR_IDS, EOS_CHAR_IDS
from lmlab.modules.seq2seq_encoders import Seq2SeqEncoder
from lmlab.modules.token_embedders import TokenEmbedder

pytestmark = pytest.mark.cross_path  # compares two code paths: re-run under every CPU kernel level

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "fixtures" / "elmo"
P = 6
SENTENCES = [["The", "cat", "sat", "on", "the", "mat", "."], ["Hello", "wörld"], ["x"]]


def _parts(skip: bool = True, cell_clip=3.0):
    torch.manual_seed(0)
    encoder = TokenEmbedder.from_params({"type": "elmo_character_encoder", "embedding_dim": 3,
                                         "filters": [[1, 4], [2, 5], [3, 6]], "num_highway": 2, "projection_dim": P})
    lstm = Seq2SeqEncoder.from_params({"type": "elmo_lstm", "input_size": P, "hidden_size": 7, "projection_dim": P,
                                       "num_layers": 2, "cell_clip": cell_clip, "proj_clip": 2.5,
                                       "use_skip_connections": skip, "return_all_layers": True})
    with torch.no_grad():  # trained-looking values everywhere, including the biases
        for parameter in list(encoder.parameters()) + list(lstm.parameters()):
            parameter.add_(torch.randn_like(parameter) * 0.3)
        encoder.character_encoder.char_embedding.weight[0].zero_()  # the padding-token row (never trained)
    return encoder.eval(), lstm.eval()


def _activations_of_parts(encoder, lstm, ids):
    """What a language model made of these parts computes, framed by <S>/</S> as ElmoBiLm frames a sentence."""
    mask = (ids > 0).any(-1)
    framed, framed_mask = add_sentence_boundaries(ids, mask, torch.tensor(BOS_CHAR_IDS), torch.tensor(EOS_CHAR_IDS))
    tokens = encoder(framed)  # (B, T + 2, P)
    layers = lstm(tokens, framed_mask)  # (L, B, T + 2, 2P)
    return [torch.cat([tokens, tokens], -1), *layers.unbind(0)], framed_mask


@pytest.mark.parametrize("skip,cell_clip", [(True, 3.0), (False, None)])
def test_round_trip_through_the_files_gives_the_same_activations(tmp_path, skip, cell_clip):
    encoder, lstm = _parts(skip, cell_clip)
    options, weights = tmp_path / "options.json", tmp_path / "weights.hdf5"
    export_elmo(encoder.character_encoder, lstm.lstm, options, weights)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["options.json", "weights.hdf5"]  # no temporary left
    loaded_options = load_elmo_options(str(options))
    assert loaded_options["lstm"] == {"use_skip_connections": skip, "n_layers": 2, "projection_dim": P, "dim": 7,
                                      "proj_clip": 2.5, **({"cell_clip": 3.0} if cell_clip else {})}
    bilm = ElmoBiLm(str(options), str(weights), stateful=False)
    ids = batch_to_ids(SENTENCES)
    with torch.no_grad():
        expected, expected_mask = _activations_of_parts(encoder, lstm, ids)
        output = bilm(ids)
    assert bilm.num_layers == 3 and torch.equal(output["mask"], expected_mask)
    for layer, (actual, wanted) in enumerate(zip(output["activations"], expected, strict=False)):
        assert torch.allclose(actual, wanted, rtol=0, atol=1e-6), layer
    # The parameters themselves come back bit-identical.
    assert torch.equal(bilm._token_embedder.char_embedding.weight, encoder.character_encoder.char_embedding.weight)
    for name, value in lstm.lstm.state_dict().items():
        assert torch.equal(bilm._elmo_lstm.state_dict()[name], value), name


def test_weight_file_layout(tmp_path):
    encoder, lstm = _parts()
    export_elmo(encoder.character_encoder, lstm.lstm, tmp_path / "o.json", tmp_path / "w.hdf5")
    with h5py.File(tmp_path / "w.hdf5", "r") as h5file:
        assert h5file["char_embed"].shape == (261, 3) and h5file["char_embed"].dtype == numpy.float32
        assert h5file["CNN/W_cnn_2"].shape == (1, 3, 3, 6)
        assert h5file["CNN_high_1/W_carry"].shape == (15, 15) and h5file["CNN_proj/W_proj"].shape == (15, P)
        assert h5file["RNN_1/RNN/MultiRNNCell/Cell1/LSTMCell/W_0"].shape == (2 * P, 28)
        assert h5file["RNN_0/RNN/MultiRNNCell/Cell0/LSTMCell/W_P_0"].shape == (7, P)
        # B is the stored bias: the +1 forget bias is added at run time, never stored.
        numpy.testing.assert_array_equal(h5file["RNN_1/RNN/MultiRNNCell/Cell0/LSTMCell/B"][...],
                                         lstm.lstm.biases[0][1].detach().numpy())


def test_re_export_of_the_pretrained_fixture_reproduces_every_dataset_exactly(tmp_path):
    if not SHARED.is_dir():
        pytest.skip(f"ELMo fixtures not found at {SHARED}")
    bilm = ElmoBiLm(str(SHARED / "options.json"), str(SHARED / "lm_weights.hdf5"))
    export_bilm(bilm, tmp_path / "options.json", tmp_path / "weights.hdf5")
    assert json.loads((tmp_path / "options.json").read_text()) == json.loads((SHARED / "options.json").read_text())

    def datasets(path):
        found = {}
        with h5py.File(path, "r") as h5file:
            h5file.visititems(lambda name, item: found.update({name: item[...]}) if isinstance(item, h5py.Dataset)
                              else None)
        return found

    original, exported = datasets(SHARED / "lm_weights.hdf5"), datasets(tmp_path / "weights.hdf5")
    assert sorted(exported) == sorted(original)
    for name, array in original.items():
        assert exported[name].dtype == array.dtype and numpy.array_equal(exported[name], array), name


def test_unsupported_parts_are_named_and_nothing_is_written(tmp_path):
    encoder, lstm = _parts()
    other = Seq2SeqEncoder.from_params({"type": "bidirectional_lm_lstm", "input_size": P, "hidden_size": P})
    with pytest.raises(ConfigurationError, match="cannot export BidirectionalLmLstm as ELMo LSTMs: expected an "
                                                 "ElmoLstm"):
        export_elmo(encoder.character_encoder, other, tmp_path / "o.json", tmp_path / "w.hdf5")
    embedding = TokenEmbedder.from_params({"type": "embedding", "embedding_dim": P, "num_embeddings": 5})
    with pytest.raises(ConfigurationError, match="cannot export Embedding as an ELMo character encoder"):
        export_elmo(embedding, lstm.lstm, tmp_path / "o.json", tmp_path / "w.hdf5")
    wide = Seq2SeqEncoder.from_params({"type": "elmo_lstm", "input_size": P, "hidden_size": 7, "projection_dim": 3})
    with pytest.raises(ConfigurationError, match="one size"):
        export_elmo(encoder.character_encoder, wide.lstm, tmp_path / "o.json", tmp_path / "w.hdf5")
    assert list(tmp_path.iterdir()) == []
