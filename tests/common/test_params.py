import json

import pytest

from lmlab.common import ConfigurationError, Params
from lmlab.common.params import merge_overrides


def test_pop_keeps_history_and_typed_pops():
    params = Params({"model": {"encoder": {"hidden_size": "200", "dropout": 1, "bidirectional": True}}})
    encoder = params.pop("model").pop("encoder")
    assert encoder.history == "model.encoder"
    assert encoder.pop_float("dropout") == 1.0
    assert encoder.pop_bool("bidirectional") is True
    with pytest.raises(ConfigurationError) as info:
        encoder.pop_int("hidden_size")
    assert str(info.value) == 'config error at model.encoder.hidden_size: expected int, found str "200"'
    with pytest.raises(ConfigurationError, match="at model.encoder.num_layers: missing required key"):
        encoder.pop("num_layers")
    assert encoder.pop_int("num_layers", 1) == 1


def test_assert_empty_names_every_key_with_suggestions():
    params = Params({"hiden_size": 3, "zzz": 1}, history="model.contextualizer")
    with pytest.raises(ConfigurationError) as info:
        params.assert_empty('"lstm"', allowed=["hidden_size", "num_layers"])
    assert info.value.lines() == [
        'config error at model.contextualizer.hiden_size: unknown key for "lstm"; did you mean "hidden_size"?',
        'config error at model.contextualizer.zzz: unknown key for "lstm"',
    ]


def test_pop_choice_and_duplicate_and_as_dict():
    params = Params({"mode": "sum", "nested": {"a": [1, {"b": 2}]}})
    copy = params.duplicate()
    assert params.pop_choice("mode", ["sum", "mean"]) == "sum"
    assert "mode" in copy
    assert params.as_dict() == {"nested": {"a": [1, {"b": 2}]}}
    with pytest.raises(ConfigurationError, match='expected one of .*found \'mena\'; did you mean "mean"'):
        Params({"mode": "mena"}).pop_choice("mode", ["sum", "mean"])


def test_jsonnet_file_with_ext_var_from_environment_and_overrides(tmp_path, monkeypatch):
    path = tmp_path / "config.jsonnet"
    path.write_text('local h = std.parseInt(std.extVar("HIDDEN")); '
                    '{model: {hidden_size: h, layers: [h, h * 2]}, trainer: {num_epochs: 3}}')
    monkeypatch.setenv("HIDDEN", "7")
    params = Params.from_file(str(path))
    assert params.as_dict() == {"model": {"hidden_size": 7, "layers": [7, 14]}, "trainer": {"num_epochs": 3}}
    params = Params.from_file(str(path), overrides='{"trainer.num_epochs": 1, model: {hidden_size: 8}}')
    assert params.as_dict() == {"model": {"hidden_size": 8, "layers": [7, 14]}, "trainer": {"num_epochs": 1}}


def test_file_errors_are_one_line(tmp_path):
    with pytest.raises(ConfigurationError, match="config file not found"):
        Params.from_file(str(tmp_path / "missing.jsonnet"))
    bad = tmp_path / "bad.jsonnet"
    bad.write_text("{model: ")
    with pytest.raises(ConfigurationError) as info:
        Params.from_file(str(bad))
    assert len(info.value.lines()) == 1 and str(bad) in str(info.value)
    undefined = tmp_path / "extvar.jsonnet"
    undefined.write_text('{a: std.extVar("LMLAB_SURELY_UNDEFINED")}')
    with pytest.raises(ConfigurationError, match="LMLAB_SURELY_UNDEFINED"):
        Params.from_file(str(undefined))


def test_merge_overrides_deep_and_errors():
    config = {"a": {"b": 1, "c": {"d": 2}}, "e": 5}
    merged = merge_overrides(config, {"a": {"c": {"d": 3}}, "a.b": 4, "f": [1]})
    assert merged == {"a": {"b": 4, "c": {"d": 3}}, "e": 5, "f": [1]}
    assert config["a"]["b"] == 1  # input untouched
    with pytest.raises(ConfigurationError, match="at e: cannot override inside a int value"):
        merge_overrides(config, {"e.x": 1})
    json.dumps(merged)
    encoder = {"model": {"encoder": {"type": "lstm", "hidden_size": 8}}}
    assert merge_overrides(encoder, {"model.encoder": {"hidden_size": 4}}) == \
        {"model": {"encoder": {"type": "lstm", "hidden_size": 4}}}
    assert merge_overrides(encoder, {"model.encoder": {"type": "gru", "input_size": 4}}) == \
        {"model": {"encoder": {"type": "gru", "input_size": 4}}}  # a new type replaces the block


def test_ext_var_with_default(tmp_path, monkeypatch):
    path = tmp_path / "config.jsonnet"
    path.write_text('{dir: std.native("extVarOr")("LMLAB_TEST_DIR", "default/dir")}')
    monkeypatch.delenv("LMLAB_TEST_DIR", raising=False)
    assert Params.from_file(str(path)).as_dict() == {"dir": "default/dir"}
    monkeypatch.setenv("LMLAB_TEST_DIR", "/data/x")
    assert Params.from_file(str(path)).as_dict() == {"dir": "/data/x"}
