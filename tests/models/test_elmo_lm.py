"""A bidirectional character-input LanguageModel used as an ELMo biLM, and exported to bilm-tf files."""
import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.data.vocabulary import Vocabulary
from lmlab.models import Model
from lmlab.models.elmo_lm import LanguageModelBiLm, export_language_model
from lmlab.modules.elmo import Elmo, ElmoBiLm, batch_to_ids

P = 6
SENTENCES = [["the", "cat", "sat", "."], ["a", "dog"], ["hi"]]
EMBEDDER = {"token_embedders": {"chars": {"type": "elmo_character_encoder", "embedding_dim": 3,
                                          "filters": [[1, 4], [2, 4]], "num_highway": 1, "projection_dim": P}},
            "allow_unmatched_keys": True}
ELMO_LSTM = {"type": "elmo_lstm", "input_size": P, "hidden_size": 8, "projection_dim": P, "num_layers": 2}


def _model(**overrides):
    torch.manual_seed(0)
    vocab = Vocabulary(counter={"tokens": {w: 1 for w in ("the", "cat", "sat", ".", "a", "dog", "<S>", "</S>")}})
    config = {"type": "language_model", "bidirectional": True, "text_field_embedder": EMBEDDER,
              "contextualizer": ELMO_LSTM, **overrides}
    model = Model.from_params(config, vocab=vocab)
    with torch.no_grad():
        for bias in model._contextualizer.lstm.biases if hasattr(model._contextualizer, "lstm") else []:
            bias.normal_()
    return model.eval()


def test_the_adapter_follows_the_bilm_contract_and_matches_the_model_on_framed_sentences():
    model = _model()
    bilm = LanguageModelBiLm(model)
    assert bilm.num_layers == 3 and bilm.get_output_dim() == 2 * P
    ids = batch_to_ids(SENTENCES)
    with torch.no_grad():
        output = bilm(ids)
        framed = batch_to_ids([["<S>", *s, "</S>"] for s in SENTENCES])
        lm_output = model(source={"chars": {"elmo_tokens": framed},
                                  "tokens": {"tokens": torch.zeros(3, 6, dtype=torch.long)}})
    assert torch.equal(output["mask"], lm_output["mask"])
    assert torch.allclose(output["activations"][2], lm_output["lm_embeddings"], rtol=0, atol=1e-6)
    token_layer = output["activations"][0]
    assert torch.allclose(token_layer[..., :P], lm_output["noncontextual_token_embeddings"], rtol=0, atol=1e-6)
    assert torch.equal(token_layer[..., :P], token_layer[..., P:])
    assert model._contextualizer.return_all_layers is False  # only switched on during the adapter's call
    assert not any(p.requires_grad for p in bilm.parameters())

    elmo = Elmo(None, None, 2, dropout=0.0, module=bilm)
    representations = elmo(ids)["elmo_representations"]
    assert len(representations) == 2 and representations[0].shape == (3, 4, 2 * P)


def test_export_round_trip_gives_the_adapter_activations(tmp_path):
    model = _model()
    export_language_model(model, tmp_path / "options.json", tmp_path / "weights.hdf5")
    exported = ElmoBiLm(str(tmp_path / "options.json"), str(tmp_path / "weights.hdf5"), stateful=False)
    ids = batch_to_ids(SENTENCES)
    with torch.no_grad():
        expected, actual = LanguageModelBiLm(model)(ids), exported(ids)
    assert torch.equal(actual["mask"], expected["mask"])
    for layer in range(3):
        assert torch.allclose(actual["activations"][layer], expected["activations"][layer], rtol=0, atol=1e-6)


def test_unsupported_models_get_located_errors(tmp_path):
    with pytest.raises(ConfigurationError, match="bidirectional"):
        LanguageModelBiLm(_model(bidirectional=False, contextualizer={"type": "lstm", "input_size": P,
                                                                         "hidden_size": P}))
    words = {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": P}}}
    with pytest.raises(ConfigurationError, match=r'token_embedders\.tokens: expected an "elmo_character_encoder"'):
        LanguageModelBiLm(_model(text_field_embedder=words))
    top_layer_only = _model()
    top_layer_only.contextualizer.return_all_layers = None  # what an encoder that cannot return all layers has
    with pytest.raises(ConfigurationError, match="ElmoLstmSeq2SeqEncoder cannot return all its layers"):
        LanguageModelBiLm(top_layer_only)
    narrow = {**ELMO_LSTM, "projection_dim": 4}
    with pytest.raises(ConfigurationError, match="must have the same size"):
        LanguageModelBiLm(_model(contextualizer=narrow))
    # Another no-peeking biLM works as an ELMo module, but has no bilm-tf file layout to export.
    other = _model(contextualizer={"type": "bidirectional_lm_lstm", "input_size": P, "hidden_size": P,
                                   "num_layers": 2})
    assert LanguageModelBiLm(other)(batch_to_ids(SENTENCES))["activations"][2].shape == (3, 6, 2 * P)
    with pytest.raises(ConfigurationError, match='expected an "elmo_lstm" contextualizer'):
        export_language_model(other, tmp_path / "o.json", tmp_path / "w.hdf5")
    assert list(tmp_path.iterdir()) == []
