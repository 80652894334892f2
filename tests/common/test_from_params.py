import copy
from typing import Annotated, Any, Dict, Iterator, List, Literal, Optional, Set, Tuple, Union

import pytest

from lmlab.common import ConfigurationError, FromParams, InputError, Lazy, LmlabError, Params, Registrable, to_params
from lmlab.common.constraints import DropoutRate, Increasing, Length, PositiveInt, Probability, Word
from lmlab.common.from_params import classes_in, describe, validate


class Vocab:
    def __init__(self, size: int) -> None:
        self.size = size


class Layer(Registrable):
    def __init__(self, size: int) -> None:
        self.size = size


@Layer.register("dense")
class Dense(Layer):
    def __init__(self, size: int, activation: str = "relu", vocab: Optional[Vocab] = None) -> None:
        super().__init__(size)
        self.activation = activation
        self.vocab = vocab


@Layer.register("stack")
class Stack(Layer):
    def __init__(self, layers: List[Layer], name: str = "stack") -> None:
        super().__init__(sum(layer.size for layer in layers))
        self.layers = layers
        self.name = name


class Net(FromParams):
    def __init__(self, encoder: Layer, shape: Tuple[int, int], tags: Set[str], weights: Dict[str, float],
                 dropout: Optional[float] = None, vocab: Optional[Vocab] = None,
                 mode: Literal["sum", "mean"] = "sum", anything: Any = None,
                 size_or_name: Union[int, str] = 0) -> None:
        self.encoder, self.shape, self.tags, self.weights = encoder, shape, tags, weights
        self.dropout, self.vocab, self.mode, self.anything = dropout, vocab, mode, anything
        self.size_or_name = size_or_name


def _net_config():
    return {"encoder": {"type": "stack", "layers": [
        {"type": "dense", "size": 2},
        {"type": "stack", "layers": [{"type": "dense", "size": 3, "activation": "tanh"}]}]},
        "shape": [1, 2], "tags": ["a", "b", "a"], "weights": {"x": 1, "y": 0.5}}


def test_nested_construction_three_levels_with_collections_and_injected_vocab():
    vocab = Vocab(10)
    net = Net.from_params(_net_config(), vocab=vocab)
    inner = net.encoder.layers[1].layers[0]
    assert isinstance(inner, Dense) and inner.size == 3 and inner.activation == "tanh"
    assert inner.vocab is vocab and net.vocab is vocab  # injected down to every constructor that takes it
    assert net.encoder.size == 5
    assert net.shape == (1, 2) and net.tags == {"a", "b"} and net.weights == {"x": 1.0, "y": 0.5}
    assert net.dropout is None and net.mode == "sum"


def test_union_literal_any():
    config = {**_net_config(), "size_or_name": "big", "mode": "mean", "anything": {"k": [1]}}
    net = Net.from_params(config)
    assert net.size_or_name == "big" and net.mode == "mean" and net.anything == {"k": [1]}
    with pytest.raises(ConfigurationError, match="at size_or_name: expected int or str, found list"):
        Net.from_params({**_net_config(), "size_or_name": [1]})
    with pytest.raises(ConfigurationError, match="at mode: expected one of 'sum', 'mean', found 'max'"):
        Net.from_params({**_net_config(), "mode": "max"})


def test_wrong_type_inside_list_reports_index():
    config = _net_config()
    config["encoder"]["layers"][1]["layers"][0]["size"] = "three"
    with pytest.raises(ConfigurationError) as info:
        Net.from_params(config)
    assert str(info.value) == ('config error at encoder.layers[1].layers[0].size: expected int, found str "three"')


def test_unknown_key_did_you_mean_and_all_problems_reported():
    config = _net_config()
    config["encoder"]["layers"][0]["activaton"] = "tanh"
    config["encoder"]["layers"][0]["type"] = "dens"
    config["droput"] = 0.1
    with pytest.raises(ConfigurationError) as info:
        Net.from_params(config)
    lines = info.value.lines()
    assert 'config error at encoder.layers[0].type: unknown Layer "dens"; did you mean "dense"?' in lines[0]
    assert 'config error at droput: unknown key for "Net"; did you mean "dropout"?' in lines
    config["encoder"]["layers"][0]["type"] = "dense"
    with pytest.raises(ConfigurationError) as info:
        Net.from_params(config)
    assert ('config error at encoder.layers[0].activaton: unknown key for "dense"; did you mean "activation"?'
            in info.value.lines())


def test_missing_required_and_missing_type():
    with pytest.raises(ConfigurationError) as info:
        Net.from_params({"encoder": {"layers": []}, "shape": [1, 2], "tags": [], "weights": {}})
    assert str(info.value).startswith('config error at encoder.type: missing key "type" for Layer')
    with pytest.raises(ConfigurationError) as info:
        Dense.from_params({})
    assert str(info.value) == "config error at size: missing required key (int) for Dense"
    with pytest.raises(ConfigurationError, match="at shape: expected list \\[int, int\\] of length 2, found length 3"):
        Net.from_params({**_net_config(), "shape": [1, 2, 3]})


class Optimizer(Registrable):
    run_time_arguments = ("parameters",)

    def __init__(self, parameters: List[float], lr: float) -> None:
        self.parameters, self.lr = parameters, lr


@Optimizer.register("sgd")
class Sgd(Optimizer):
    def __init__(self, parameters: List[float], lr: float = 0.1, momentum: float = 0.0) -> None:
        super().__init__(parameters, lr)
        self.momentum = momentum


class Trainer(FromParams):
    def __init__(self, optimizer: Lazy[Optimizer], num_epochs: int = 1) -> None:
        self.optimizer = optimizer
        self.num_epochs = num_epochs


def test_lazy_builds_with_run_time_arguments_each_time():
    trainer = Trainer.from_params({"optimizer": {"type": "sgd", "momentum": 0.9}})
    first = trainer.optimizer.construct(parameters=[1.0, 2.0])
    second = trainer.optimizer.construct(parameters=[3.0])
    assert isinstance(first, Sgd) and first.parameters == [1.0, 2.0] and first.momentum == 0.9 and first.lr == 0.1
    assert second is not first and second.parameters == [3.0]
    bad = Trainer.from_params({"optimizer": {"type": "sgd", "lr": "x"}})
    with pytest.raises(ConfigurationError, match="at optimizer.lr: expected float"):
        bad.optimizer.construct(parameters=[])
    clash = Trainer.from_params({"optimizer": {"type": "sgd", "parameters": [1.0]}})
    with pytest.raises(ConfigurationError, match="at optimizer.parameters: is set by lmlab at run time"):
        clash.optimizer.construct(parameters=[])


class Custom(FromParams):
    def __init__(self, total: int) -> None:
        self.total = total

    @classmethod
    def from_params(cls, params, **extras):
        params = params if isinstance(params, Params) else Params(params)
        total = sum(params.pop("numbers"))
        params.assert_empty("Custom")
        return cls(total)


class HasCustom(FromParams):
    def __init__(self, custom: Custom) -> None:
        self.custom = custom


def test_overridden_from_params_is_used_for_nested_objects():
    assert HasCustom.from_params({"custom": {"numbers": [1, 2, 3]}}).custom.total == 6


def test_only_configuration_errors_from_a_constructor_are_located_in_the_config():
    class Checked(FromParams):
        def __init__(self, size: int) -> None:
            if size == 0:
                raise ConfigurationError("must not be 0", "size")
            if size < 0:
                raise ValueError(f"size must be positive, got {size}")
            if size > 100:
                raise InputError("no such file or folder", "data/nope.txt")

    class Outer(FromParams):
        def __init__(self, inner: Checked) -> None:
            self.inner = inner

    with pytest.raises(ConfigurationError) as info:
        Outer.from_params({"inner": {"size": 0}})
    assert str(info.value) == "config error at inner.size: must not be 0"
    # any other exception is not a config mistake: it reaches the caller unchanged, as the bug it is
    with pytest.raises(ValueError, match="^size must be positive, got -1$") as bug:
        Outer.from_params({"inner": {"size": -1}})
    assert not isinstance(bug.value, LmlabError)
    # an input error names its file; it is not relocated to the config path being built
    with pytest.raises(InputError) as missing:
        Outer.from_params({"inner": {"size": 101}})
    assert str(missing.value) == "input error at data/nope.txt: no such file or folder"


class Explodes(Layer):
    """Must never be constructed by `validate`."""

    def __init__(self, size: int, vocab: Vocab) -> None:
        raise AssertionError("validate constructed an object")


Layer.register("explodes")(Explodes)


def test_validate_reports_what_building_reports_and_constructs_nothing():
    config = _net_config()
    config["encoder"]["layers"][0]["activaton"] = "tanh"
    config["encoder"]["layers"][1]["layers"][0]["size"] = "three"
    config["shape"] = [1]
    config["droput"] = 0.1
    with pytest.raises(ConfigurationError) as built:
        Net.from_params(copy.deepcopy(config))
    with pytest.raises(ConfigurationError) as checked:
        validate(Net, config, "net")
    assert [line.replace("at net.", "at ") for line in checked.value.lines()] == built.value.lines()
    assert len(built.value.lines()) == 4
    # a valid config: the filled config is the one building writes, and nothing was constructed or consumed
    config = {**_net_config(), "mode": "mean"}
    config["encoder"]["layers"].append({"type": "explodes", "size": 1})
    given = copy.deepcopy(config)
    filled = validate(Net, Params(config), run_time=("vocab",))
    assert config == given
    del config["encoder"]["layers"][-1], filled["encoder"]["layers"][-1]
    assert filled == to_params(Net.from_params(config))
    # without `vocab` among the run-time arguments, what building would say
    with pytest.raises(ConfigurationError) as info:
        validate(Stack, {"layers": [{"type": "explodes", "size": 1}]})
    assert str(info.value) == "config error at layers[0].vocab: missing required key (Vocab) for Explodes"


def test_validate_checks_lazy_blocks_with_their_run_time_arguments():
    assert validate(Trainer, {"optimizer": {"type": "sgd"}}) == \
        {"optimizer": {"type": "sgd", "lr": 0.1, "momentum": 0.0}, "num_epochs": 1}
    with pytest.raises(ConfigurationError) as info:
        validate(Trainer, {"optimizer": {"type": "sgd", "lr": "x", "parameters": [1.0]}, "num_epochs": "2"},
                 "trainer")
    assert info.value.lines() == [
        "config error at trainer.optimizer.parameters: is set by lmlab at run time; remove it from the config",
        'config error at trainer.optimizer.lr: expected float, found str "x"',
        'config error at trainer.num_epochs: expected int, found str "2"']
    with pytest.raises(ConfigurationError, match='at optimizer.type: unknown Optimizer "sdg"; did you mean "sgd"'):
        validate(Optional[Trainer], {"optimizer": {"type": "sdg"}})
    assert validate(Optional[Trainer], None) is None


def test_filled_config_round_trip():
    net = Net.from_params(_net_config())
    filled = to_params(net)
    assert filled["dropout"] is None and filled["mode"] == "sum"
    assert filled["encoder"]["layers"][0] == {"type": "dense", "size": 2, "activation": "relu"}
    assert filled["encoder"]["name"] == "stack"
    rebuilt = Net.from_params(filled)
    assert to_params(rebuilt) == filled
    with pytest.raises(ConfigurationError, match="was not built from a config"):
        to_params(Dense(3))


def test_ext_var_and_override_change_the_built_object(tmp_path, monkeypatch):
    path = tmp_path / "net.jsonnet"
    path.write_text('local size = std.parseInt(std.extVar("LMLAB_TEST_SIZE"));\n'
                    '{encoder: {type: "dense", size: size}, shape: [size, 1], tags: [], weights: {}}')
    monkeypatch.setenv("LMLAB_TEST_SIZE", "4")
    assert Net.from_params(Params.from_file(str(path))).encoder.size == 4
    monkeypatch.setenv("LMLAB_TEST_SIZE", "6")
    net = Net.from_params(Params.from_file(str(path), overrides='{"encoder.activation": "tanh", "mode": "mean"}'))
    assert (net.encoder.size, net.shape, net.encoder.activation, net.mode) == (6, (6, 1), "tanh", "mean")


class Regularised(FromParams):
    def __init__(self, dropout: Probability = 0.0, layers: PositiveInt = 1,
                 rates: Optional[List[Probability]] = None) -> None:
        self.dropout, self.layers, self.rates = dropout, layers, rates


def test_annotated_ranges_are_checked_where_the_value_is_read_by_build_and_validate():
    built = Regularised.from_params({"dropout": 1, "layers": 3, "rates": [0.0, 0.5]})
    assert (built.dropout, built.layers, built.rates) == (1.0, 3, [0.0, 0.5])
    config = {"dropout": 1.5, "layers": 0, "rates": [0.1, -0.2]}
    expected = ["config error at dropout: expected a value in [0, 1], found 1.5",
                "config error at layers: expected a value in [1, inf), found 0",
                "config error at rates[1]: expected a value in [0, 1], found -0.2"]
    with pytest.raises(ConfigurationError) as built_error:
        Regularised.from_params(copy.deepcopy(config))
    with pytest.raises(ConfigurationError) as checked:
        validate(Regularised, config)
    assert built_error.value.lines() == checked.value.lines() == expected
    with pytest.raises(ConfigurationError, match=r'at dropout: expected float, found str "high"'):
        Regularised.from_params({"dropout": "high"})
    assert describe(Optional[List[Probability]]) == "list of float in [0, 1] or null"


class Clustered(FromParams):
    """Constraints of each kind, and a relation between two arguments (`check_arguments`)."""

    def __init__(self, cutoffs: Annotated[List[int], Length(1), Increasing()], keep: DropoutRate = 0.5,
                 token: Word = "<mask>", mode: Literal["sum", "mean"] = "sum",
                 num_words: Optional[PositiveInt] = None, built: int = 0) -> None:
        self.cutoffs, self.keep, self.token, self.mode, self.num_words = cutoffs, keep, token, mode, num_words

    @classmethod
    def check_arguments(cls, arguments: Dict[str, Any]) -> Iterator[ConfigurationError]:
        if arguments["num_words"] is not None and arguments["cutoffs"][-1] >= arguments["num_words"]:
            yield ConfigurationError(f"expected every cutoff below num_words {arguments['num_words']}", "cutoffs")
        if arguments["num_words"] is not None and arguments["keep"] * arguments["num_words"] < 1:
            yield ConfigurationError("keeps no word", "keep")


@pytest.mark.parametrize("config, expected", [
    ({"cutoffs": []}, "at cutoffs: expected at least 1 item, found 0"),
    ({"cutoffs": [5, 3]}, "at cutoffs: expected strictly increasing values, found [5, 3] (3 at [1] after 5)"),
    ({"cutoffs": [3, 3]}, "at cutoffs: expected strictly increasing values"),
    ({"cutoffs": [3], "keep": 1.0}, "at keep: expected a value in [0, 1), found 1.0"),
    ({"cutoffs": [3], "token": "a b"}, "at token: expected one non-empty token without spaces, found 'a b'"),
    ({"cutoffs": [3], "mode": "maen"},
     """at mode: expected one of 'sum', 'mean', found 'maen'; did you mean "mean"?"""),
    ({"cutoffs": [3], "mode": True}, "at mode: expected one of 'sum', 'mean', found True"),
    ({"cutoffs": [3], "num_words": 0}, "at num_words: expected a value in [1, inf), found 0"),
    ({"cutoffs": [3, 10], "num_words": 10}, "at cutoffs: expected every cutoff below num_words 10"),
])
def test_constraints_and_the_argument_hook_refuse_the_same_when_validating_and_when_building(config, expected):
    with pytest.raises(ConfigurationError) as checked:
        validate(Clustered, {"block": config}["block"], "block")
    with pytest.raises(ConfigurationError) as built:
        Clustered.from_params(Params(copy.deepcopy(config), "block"))
    assert checked.value.lines() == built.value.lines()
    assert checked.value.lines()[0].startswith(f"config error {expected.split(':')[0].replace('at ', 'at block.')}:")
    assert expected.split(": ", 1)[1] in checked.value.lines()[0]


def test_the_argument_hook_sees_defaults_and_runs_only_on_valid_arguments():
    seen = []

    class Watched(Clustered):
        @classmethod
        def check_arguments(cls, arguments: Dict[str, Any]) -> Iterator[ConfigurationError]:
            seen.append(arguments)
            return iter(())

    validate(Watched, {"cutoffs": [1, 2]})
    assert seen == [{"cutoffs": [1, 2], "keep": 0.5, "token": "<mask>", "mode": "sum", "num_words": None,
                     "built": 0}]
    with pytest.raises(ConfigurationError):
        validate(Watched, {"cutoffs": [2, 1]})
    assert len(seen) == 1
    assert Watched.from_params({"cutoffs": [1, 2]}, built=3).cutoffs == [1, 2]
    assert "built" not in seen[-1]  # a run-time argument is not the config's to check


def test_the_argument_hook_reports_every_problem_at_once():
    with pytest.raises(ConfigurationError) as error:
        validate(Clustered, {"cutoffs": [3, 10], "num_words": 10, "keep": 0.05}, "block")
    assert [location for location, _ in error.value.problems] == ["block.cutoffs", "block.keep"]


def test_classes_in_names_every_class_a_config_builds_outermost_first_without_building():
    filled = validate(Net, _net_config(), run_time=("vocab",))
    assert classes_in(Net, filled) == [Net, Stack, Dense, Stack, Dense]
    assert classes_in(Optional[Layer], None) == [] and classes_in(Lazy[Layer], {"type": "dense", "size": 1}) == [Dense]
