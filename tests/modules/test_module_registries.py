"""Registry sweep: every registered name of the module registries builds from a minimal config."""
import re
from pathlib import Path

import pytest

import lmlab.models  # noqa: F401  (registers the archive-reading "language_model_token_embedder")
import lmlab.modules  # noqa: F401  (registers everything)
from lmlab.data.vocabulary import Vocabulary
from lmlab.modules.language_model_heads import LanguageModelHead
from lmlab.modules.seq2seq_encoders import Seq2SeqEncoder
from lmlab.modules.softmax_losses import SoftmaxLoss
from lmlab.modules.text_field_embedders import TextFieldEmbedder
from lmlab.modules.token_embedders import TokenEmbedder

ELMO_FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "elmo"
LM_ARCHIVE = "<a language-model archive, written by the lm_archive fixture>"
HF_MODEL = "<a tiny local transformer folder, from lmlab.common.testing.tiny_transformers>"
MINIMAL = {
    TokenEmbedder: {
        "embedding": {"embedding_dim": 3},
        "character_encoding": {"embedding_dim": 3, "num_filters": 2},
        "elmo_character_encoder": {"filters": [[1, 2]], "projection_dim": 3},
        "elmo_token_embedder": {"options_file": str(ELMO_FIXTURE / "options.json"),
                                "weight_file": str(ELMO_FIXTURE / "lm_weights.hdf5")},
        "character_lstm": {"embedding_dim": 3, "hidden_size": 2},
        "language_model_token_embedder": {"forward_archive": LM_ARCHIVE},
        "pretrained_transformer": {"model_name": HF_MODEL},
        "pretrained_transformer_mismatched": {"model_name": HF_MODEL},
        "pretrained_transformer_embedding": {"model_name": HF_MODEL},
    },
    TextFieldEmbedder: {
        "basic": {"token_embedders": {"tokens": {"type": "embedding", "embedding_dim": 3}}},
    },
    Seq2SeqEncoder: {
        "lstm": {"input_size": 3, "hidden_size": 2},
        "gru": {"input_size": 3, "hidden_size": 2},
        "transformer": {"input_dim": 4},
        "bidirectional_lm_lstm": {"input_size": 3, "hidden_size": 2},
        "bidirectional_lm_transformer": {"input_dim": 4},
        "elmo_lstm": {"input_size": 3, "hidden_size": 4, "projection_dim": 2},
        "basic_rnn": {"input_size": 3, "hidden_size": 2},
        "dense_rnn": {"input_size": 3, "hidden_size": 2},
        "ld_rnn": {"input_size": 3, "hidden_size": 2},
        "pretrained_transformer": {"model_name": HF_MODEL},
    },
    SoftmaxLoss: {
        "softmax": {},
        "sampled_softmax": {"num_samples": 2},
        "adaptive_softmax": {"cutoffs": [3], "div_value": 2.0},
        "language_model_head": {"language_model_head": {"type": "linear", "input_dim": 3,
                                                        "vocab_namespace": "six_words"}},
    },
    LanguageModelHead: {
        "linear": {"input_dim": 3},
        "tied": {"input_dim": 3},
        "pretrained_transformer": {"model_name": HF_MODEL},
        "bert": {"model_name": HF_MODEL},
        "gpt2": {"model_name": HF_MODEL},
        "softmax_loss": {"input_dim": 3, "softmax_loss": {"type": "adaptive_softmax", "cutoffs": [2],
                                                          "div_value": 2.0}},
    },
}
RUN_TIME = {SoftmaxLoss: {"num_words": 6, "embedding_dim": 3}}
CASES = [(base, name) for base in MINIMAL for name in base.list_available()]


def test_every_registered_name_has_a_minimal_config():
    for base, configs in MINIMAL.items():
        assert sorted(base.list_available()) == sorted(configs), base.__name__


@pytest.fixture(scope="module")
def lm_archive(tmp_path_factory):
    from lmlab.models.testing import write_language_model_archive

    return str(write_language_model_archive(tmp_path_factory.mktemp("lm") / "lm.tar.gz", ["a", "b"]))


@pytest.mark.parametrize("base,name", CASES, ids=[f"{base.registry_name()}:{name}" for base, name in CASES])
def test_builds_from_minimal_config_with_snake_case_name_and_documented_contract(base, name, lm_archive):
    assert re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", name)
    vocab = Vocabulary(counter={"tokens": {"a": 1, "b": 1}, "token_characters": {"a": 1},
                                "six_words": {"a": 1, "b": 1, "c": 1, "d": 1}})
    config = {key: lm_archive if value == LM_ARCHIVE else value for key, value in MINIMAL[base][name].items()}
    if config.get("model_name") == HF_MODEL:
        from lmlab.common.testing.tiny_transformers import tiny_transformer

        config["model_name"] = str(tiny_transformer("gpt2" if name == "gpt2" else "bert"))
    component = base.from_params({"type": name, **config}, vocab=vocab, **RUN_TIME.get(base, {}))
    assert isinstance(component, base)
    implementation, _ = base.resolve_class_name(name)
    doc = implementation.__doc__ or ""
    assert "Inputs" in doc and "Outputs" in doc, f"{implementation.__name__} docstring lacks Inputs/Outputs"
    assert f'"{name}"' in doc, f"{implementation.__name__} docstring does not name its registered name"
