"""`lmlab check` refuses every value a constructor would refuse, before any data is read (issue 22).

For every shipped config (configs/, fixtures/configs/) every constrained value is found by walking the filled
config alongside the constructors' annotations, and broken one at a time: a choice misspelled (a `Literal` or
a registered `"type"`), a number put out of its range, a list emptied or its order reversed, a string that
does not match its pattern. Each broken config must fail the check with a config error at exactly that key.
The same is done for every registered component from a minimal config, and each `check_arguments` hook is
broken by a mutation of its own. A few mutations also go through `train_model` and the real CLI, with data
paths that do not exist: a run that read data would fail on those files instead.
"""
import copy
import functools
import inspect
import json
import typing
from pathlib import Path
from typing import Any, Dict, Iterator, List, Literal, Tuple, Union

import pytest

from lmlab.commands.list import import_builtin_components
from lmlab.commands.testing import run_lmlab
from lmlab.common.constraints import Increasing, Length, Pattern, Range
from lmlab.common.errors import ConfigurationError, LmlabError
from lmlab.common.from_params import INJECTABLE, FromParams, Lazy, constructor_parameters, validate
from lmlab.common.params import Params, evaluate_jsonnet, join_path
from lmlab.common.registrable import Registrable, registry_bases
from lmlab.training.experiment import CONFIG_KEYS, check_config, train_model
from lmlab.training.pruning import selection_config

ROOT = Path(__file__).resolve().parents[1]
PRUNED = {  # overrides for `lmlab prune` -> the tagger config they are merged into
    ROOT / "configs" / "ldnet" / "conll2000_prune.jsonnet":
        ROOT / "configs" / "ldnet" / "conll2000_tagger_ldnet.jsonnet",
    ROOT / "fixtures" / "configs" / "crf_tagger_prune_tiny.jsonnet":
        ROOT / "fixtures" / "configs" / "crf_tagger_ldnet_tiny.jsonnet",
}
CONFIGS = sorted(path for folder in ("configs", "fixtures/configs") for path in (ROOT / folder).rglob("*.jsonnet"))
ENV = {"LMLAB_FIXTURES": str(ROOT / "fixtures"), "HF_MODEL": "no/such/pretrained/model",
       "FORWARD_LM": "no/such/forward.tar.gz", "BACKWARD_LM": "no/such/backward.tar.gz"}  # nothing is read
NO_DATA = {"train_data_path": "no/such/train.txt", "validation_data_path": "no/such/valid.txt",
           "test_data_path": None}

Keys = Tuple[Union[str, int], ...]
Mutation = Tuple[Keys, Any, str]  # (where, the refused value, which kind of constraint it breaks)


def _misspelled(word: str) -> str:
    """A typo of `word`: its last two characters swapped, or a letter added where that changes nothing."""
    swapped = word[:-2] + word[-1:] + word[-2:-1] if len(word) > 1 else word
    return swapped if swapped != word else word + "x"


def _refused(constraint: Any, value: Any) -> Iterator[Any]:
    """A value `constraint` refuses, made from the allowed `value` (nothing when none can be made)."""
    if isinstance(constraint, Range):
        if constraint.low is not None:
            yield int(constraint.low) - 1 if isinstance(value, int) else constraint.low - 0.5
        else:
            yield int(constraint.high) + 1 if isinstance(value, int) else constraint.high + 0.5
    elif isinstance(constraint, Length):
        yield list(value)[:constraint.minimum - 1]
    elif isinstance(constraint, Increasing) and len(value) > 1:
        yield list(reversed(value))
    elif isinstance(constraint, Pattern):
        yield next(word for word in ("", "two words", "loss", "?") if constraint.check(word))


def _fits(annotation: Any, value: Any) -> bool:
    """Whether `value` has the JSON shape of `annotation` (which option of a Union a filled value took)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _fits(typing.get_args(annotation)[0], value)
    if origin is Literal:
        return value in typing.get_args(annotation)
    if origin is Lazy or (isinstance(annotation, type) and issubclass(annotation, FromParams)) or \
            origin in (dict, typing.get_origin(Dict[str, int])):
        return isinstance(value, dict)
    if origin in (list, tuple, set, typing.get_origin(typing.Sequence[int])):
        return isinstance(value, list)
    if annotation is bool or annotation is str:
        return isinstance(value, annotation)
    if annotation in (int, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return annotation is Any


def mutations(annotation: Any, value: Any, keys: Keys = ()) -> Iterator[Mutation]:
    """Every constrained value of `value` (a filled config read as `annotation`) and a refused value for it."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if value is None or annotation is Any:
        return
    if origin is typing.Annotated:
        for constraint in args[1:]:
            yield from ((keys, bad, type(constraint).__name__) for bad in _refused(constraint, value))
        yield from mutations(args[0], value, keys)
    elif origin is Literal:
        if isinstance(value, str):
            yield keys, _misspelled(value), "Literal"
    elif origin is Union:
        option = next((a for a in args if a is not type(None) and _fits(a, value)), None)
        if option is not None:
            yield from mutations(option, value, keys)
    elif origin is Lazy:
        yield from mutations(args[0], value, keys)
    elif origin in (list, set, tuple, typing.get_origin(typing.Sequence[int])):
        item_types = list(args) if origin is tuple and args and args[-1] is not Ellipsis else \
            [args[0] if args else Any] * len(value)
        for index, (item_type, item) in enumerate(zip(item_types, value, strict=False)):
            yield from mutations(item_type, item, (*keys, index))
    elif origin in (dict, typing.get_origin(Dict[str, int])):
        for key, item in value.items():
            yield from mutations(args[1] if args else Any, item, (*keys, key))
    elif isinstance(annotation, type) and issubclass(annotation, FromParams):
        chosen, constructor_name, _ = annotation.choose_implementation(Params(copy.deepcopy(value)), "")
        if "type" in value and issubclass(annotation, Registrable) and annotation.is_registry_base():
            yield (*keys, "type"), _misspelled(value["type"]), "type"
        if vars(FromParams)["from_params"].__func__ is not chosen.from_params.__func__:
            return  # its own from_params reads the keys
        for name, (parameter, _) in constructor_parameters(chosen, constructor_name).items():
            if name in value:
                yield from mutations(parameter, value[name], (*keys, name))


def _location(keys: Keys) -> str:
    path = ""
    for key in keys:
        path = join_path(path, key)
    return path


def _set(config: Dict[str, Any], keys: Keys, value: Any) -> Dict[str, Any]:
    changed = copy.deepcopy(config)
    target: Any = changed
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return changed


def _filled(path: Path) -> Dict[str, Any]:
    """The config `path` as `lmlab check` fills it, with data paths that do not exist (nothing is read)."""
    return json.loads(_filled_json(path))


@functools.lru_cache(maxsize=None)
def _filled_json(path: Path) -> str:
    import_builtin_components()
    config = Params.from_file(str(PRUNED.get(path, path)), ext_vars=ENV).as_dict()
    if path in PRUNED:  # prune overrides are checked merged into the tagger they prune, as `lmlab prune` does
        config, errors = selection_config(config, evaluate_jsonnet(snippet=path.read_text()))
        assert errors == []
    return json.dumps({**check_config(Params(config)), **NO_DATA})


def config_mutations(filled: Dict[str, Any]) -> List[Mutation]:
    found: List[Mutation] = []
    for key, (annotation, _, _) in CONFIG_KEYS.items():
        found.extend(mutations(annotation, filled.get(key), (key,)))
    return found


def _problems(error: LmlabError) -> List[str]:
    return [location or "" for location, _ in error.problems]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: str(path.relative_to(ROOT)))
def test_check_refuses_each_broken_value_of_a_shipped_config_at_its_key(path):
    filled = _filled(path)
    found = config_mutations(filled)
    kinds = {kind for _, _, kind in found}
    assert "type" in kinds and "Range" in kinds, kinds  # every config has registered blocks and sizes
    for keys, bad, kind in found:
        with pytest.raises(ConfigurationError) as error:
            check_config(Params(_set(filled, keys, bad)))
        assert _location(keys) in _problems(error.value), (kind, bad, error.value.lines())


def test_the_shipped_configs_have_constrained_values_of_every_kind():
    kinds = {kind for path in CONFIGS for _, _, kind in config_mutations(_filled(path))}
    assert kinds == {"type", "Literal", "Range", "Length", "Increasing", "Pattern"}


def test_the_values_the_issue_names_are_among_the_mutations():
    """grad_norm, warmup_steps, lr, batch_size: the values that used to be silently used or refused late."""
    refused = {}
    for path in CONFIGS:
        for keys, bad, _ in config_mutations(_filled(path)):
            refused.setdefault(_location(keys), bad)
    assert refused["trainer.grad_norm"] <= 0 and refused["trainer.optimizer.lr"] <= 0
    assert refused["trainer.learning_rate_scheduler.warmup_steps"] < 0 and refused["data_loader.batch_size"] < 1


def _minimal_configs() -> Iterator[Tuple[type, str, Tuple[str, ...], str, Any]]:
    """(base, registered name, run-time arguments, constrained parameter, its annotation) of every component."""
    import_builtin_components()
    for base in registry_bases():
        run_time = tuple(INJECTABLE) + tuple(base.run_time_arguments)
        for name in base.list_available():
            implementation, constructor_name = base.resolve_class_name(name)
            if vars(FromParams)["from_params"].__func__ is not implementation.from_params.__func__:
                continue
            for parameter, (annotation, _) in constructor_parameters(implementation, constructor_name).items():
                if parameter not in run_time and _constrained(annotation):
                    yield base, name, run_time + tuple(implementation.run_time_arguments), parameter, annotation


def _constrained(annotation: Any) -> bool:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Annotated, Literal):
        return True
    return origin in (Union, list, tuple) and any(_constrained(arg) for arg in args)


def _broken(annotation: Any) -> Any:
    """A JSON value of `annotation`'s shape that one of its constraints refuses."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        constraint = args[1]
        if isinstance(constraint, Range):
            bad = constraint.low - 1 if constraint.low is not None else constraint.high + 1
            return int(bad) if args[0] is int else float(bad)
        if isinstance(constraint, Length):
            return []
        if isinstance(constraint, Increasing):
            return [2, 1]
        if isinstance(constraint, Pattern):
            return next(word for word in ("", "two words", "loss") if constraint.check(word))
    if origin is Literal:
        return _misspelled(str(args[0]))
    if origin is Union:
        return _broken(next(arg for arg in args if arg is not type(None) and _constrained(arg)))
    if origin is list:
        return [_broken(args[0])]
    if origin is tuple:  # every item well-formed except the first constrained one
        return [_broken(arg) if index == next(i for i, a in enumerate(args) if _constrained(a)) else 1
                for index, arg in enumerate(args if args[-1] is not Ellipsis else args[:1])]
    raise AssertionError(f"no broken value for {annotation}")


MINIMAL = list(_minimal_configs())


@pytest.mark.parametrize("base, name, run_time, parameter, annotation", MINIMAL,
                         ids=[f"{base.registry_name()}:{name}.{parameter}" for base, name, _, parameter, _ in MINIMAL])
def test_every_registered_component_refuses_each_broken_constrained_argument(base, name, run_time, parameter,
                                                                             annotation):
    bad = _broken(annotation)
    with pytest.raises(ConfigurationError) as error:
        validate(base, {"type": name, parameter: bad}, "block", run_time)
    located = [loc for loc in _problems(error.value) if loc == f"block.{parameter}" or
               loc.startswith(f"block.{parameter}[") or loc.startswith(f"block.{parameter}.")]
    assert located, (bad, error.value.lines())


def test_the_sweep_covers_the_components_the_issue_names():
    names = {(base.registry_name(), name, parameter) for base, name, _, parameter, _ in MINIMAL}
    assert {("seq2seq_encoder", "transformer", "positional_encoding"), ("model", "language_model",
            "projection_activation"), ("seq2seq_encoder", "basic_rnn", "unit"), ("model", "crf_tagger",
            "label_encoding"), ("seq2seq_encoder", "lstm", "num_layers"), ("softmax_loss", "adaptive_softmax",
            "cutoffs"), ("trainer", "gradient_descent", "grad_norm"), ("learning_rate_scheduler", "linear_with_warmup",
            "warmup_steps"), ("data_loader", "multiprocess", "batch_size"), ("optimizer", "adam", "lr")} <= names


HOOKS = [  # (registry base, valid config, the keys that break how its arguments relate, the key named)
    ("seq2seq_encoder", {"type": "lstm", "input_size": 4, "hidden_size": 4}, {"stateful": True,
                                                                             "bidirectional": True}, "stateful"),
    ("seq2seq_encoder", {"type": "transformer", "input_dim": 8}, {"num_heads": 3}, "num_heads"),
    ("seq2seq_encoder", {"type": "bidirectional_lm_lstm", "input_size": 4, "hidden_size": 4},
     {"projection_dim": 4}, "projection_dim"),
    ("token_embedder", {"type": "embedding", "embedding_dim": 4, "num_embeddings": 5}, {"padding_index": 5},
     "padding_index"),
    ("model", {"type": "language_model", "text_field_embedder": {"token_embedders": {
        "tokens": {"type": "embedding", "embedding_dim": 4}}}, "contextualizer": {"type": "lstm", "input_size": 4,
                                                                                  "hidden_size": 4}},
     {"projection_activation": "relu"}, "projection_activation"),
    ("model", {"type": "language_model", "text_field_embedder": {"token_embedders": {
        "tokens": {"type": "embedding", "embedding_dim": 4}}}, "contextualizer": {"type": "lstm", "input_size": 4,
                                                                                  "hidden_size": 4}},
     {"num_samples": 2, "softmax_loss": {"type": "softmax"}}, "num_samples"),
    ("model", {"type": "crf_tagger", "text_field_embedder": {"token_embedders": {
        "tokens": {"type": "embedding", "embedding_dim": 4}}}}, {"constrain_crf_decoding": True},
     "constrain_crf_decoding"),
    ("model", {"type": "crf_tagger", "text_field_embedder": {"token_embedders": {
        "tokens": {"type": "embedding", "embedding_dim": 4}}}}, {"layer_selection": {"budget": 1}},
     "layer_selection"),
    ("trainer", {}, {"num_gradient_accumulation_steps": 2, "checkpoint_every_n_batches": 3},
     "checkpoint_every_n_batches"),
    ("learning_rate_scheduler", {"type": "linear_with_warmup", "total_steps": 10}, {"warmup_steps": 11},
     "warmup_steps"),
    ("data_loader", {"batch_size": 2}, {"batch_size": None}, "batch_size"),
    ("vocabulary", {}, {"padding_token": "@", "oov_token": "@"}, "oov_token"),
    ("dataset_reader", {"type": "masked_language_modeling"}, {"replace_with_mask": 0.9, "replace_with_random": 0.2},
     "replace_with_random"),
    ("dataset_reader", {"type": "masked_language_modeling"}, {"token_indexers": {"tokens": {
        "type": "single_id", "start_tokens": ["<s>"]}}}, "token_indexers.tokens"),
    ("dataset_reader", {"type": "simple_language_modeling", "start_tokens": ["<s>"], "end_tokens": ["</s>"]},
     {"max_sequence_length": 2}, "max_sequence_length"),
    ("dataset_reader", {"type": "conll", "num_columns": 4}, {"label_column": 4}, "label_column"),
    ("token_embedder", {"type": "language_model_token_embedder", "forward_archive": "no/such/lm.tar.gz"},
     {"do_layer_norm": True}, "do_layer_norm"),
    # sizes two blocks must agree on, when their configs give both: an encoder reads what the embedder gives
    ("model", {"type": "language_model", "text_field_embedder": {"token_embedders": {
        "tokens": {"type": "embedding", "embedding_dim": 4}}}, "contextualizer": {"type": "lstm", "input_size": 4,
                                                                                  "hidden_size": 4}},
     {"contextualizer": {"type": "lstm", "input_size": 5, "hidden_size": 4}}, "contextualizer.input_size"),
    ("model", {"type": "crf_tagger", "text_field_embedder": {"token_embedders": {
        "tokens": {"type": "embedding", "embedding_dim": 4},
        "token_characters": {"type": "character_encoding", "embedding_dim": 2, "num_filters": 3,
                             "ngram_filter_sizes": [1, 2]}}}, "encoder": {"type": "transformer", "input_dim": 10,
                                                                             "num_heads": 2}},
     {"encoder": {"type": "transformer", "input_dim": 8, "num_heads": 2}}, "encoder.input_dim"),
]


def _base(registry_name: str) -> type:
    import_builtin_components()
    return next(base for base in registry_bases() if base.registry_name() == registry_name)


@pytest.mark.parametrize("registry, config, broken, key", HOOKS, ids=[f"{h[0]}:{h[3]}" for h in HOOKS])
def test_each_relation_between_arguments_is_refused_by_the_check_alone(registry, config, broken, key):
    base = _base(registry)
    run_time = tuple(INJECTABLE) + tuple(base.run_time_arguments) + next(
        (given for annotation, _, given in CONFIG_KEYS.values() if annotation is base), ())
    validate(base, config, "block", run_time)
    with pytest.raises(ConfigurationError) as error:
        validate(base, {**config, **broken}, "block", run_time)
    assert _problems(error.value) == [f"block.{key}"], error.value.lines()


def test_every_declared_hook_is_exercised():
    import_builtin_components()
    declared = {klass for base in registry_bases() for name in base.list_available()
                for klass in inspect.getmro(base.resolve_class_name(name)[0])
                if "check_arguments" in vars(klass) and klass is not FromParams}
    exercised = {inspect.getmro(_base(registry).resolve_class_name(config.get("type") or _base(registry)
                                                                    .default_implementation)[0])[0]
                 for registry, config, _, _ in HOOKS}
    assert {klass for klass in declared if not any(issubclass(e, klass) for e in exercised)} == set()


# --- the same mutations given to `lmlab train`: refused before any data is read ---------------------------
def _one_per_kind(path: Path) -> List[Mutation]:
    chosen: Dict[str, Mutation] = {}
    for mutation in config_mutations(_filled(path)):
        chosen.setdefault(mutation[2], mutation)
    return list(chosen.values())


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: str(path.relative_to(ROOT)))
def test_train_refuses_the_same_broken_values_before_reading_data(path, tmp_path):
    filled = _filled(path)
    for keys, bad, kind in _one_per_kind(path):
        with pytest.raises(ConfigurationError) as error:  # an InputError would mean a data file was opened
            train_model(Params(_set(filled, keys, bad)), str(tmp_path / "run"))
        assert _location(keys) in _problems(error.value), (kind, error.value.lines())
        assert list(tmp_path.iterdir()) == []


CLI_MUTATIONS = [("model.contextualizer.type", "lsmt", True), ("trainer.grad_norm", -1.0, False),
                 ("trainer.validation_metric", "perplexity", False)]


@pytest.mark.parametrize("key, bad, isolated", CLI_MUTATIONS)
def test_the_real_cli_exits_2_naming_the_key_for_check_and_train(key, bad, isolated, tmp_path):
    config = ROOT / "fixtures" / "configs" / "lm_tiny.jsonnet"
    overrides = json.dumps({**NO_DATA, key: bad})
    for args in (["check", config, "-o", overrides], ["train", config, "-s", tmp_path / "run", "-o", overrides]):
        result = run_lmlab(args, env=ENV, cwd=tmp_path, isolated=isolated)  # one in a new process, as a user runs it
        assert result.returncode == 2, result.stderr
        assert [line for line in result.stderr.splitlines() if line.startswith("lmlab:")][0] \
            .startswith(f"lmlab: config error at {key}:"), result.stderr
    assert list(tmp_path.iterdir()) == []
