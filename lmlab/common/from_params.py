"""`FromParams`: build objects from configs using their constructors' type hints.

Supported annotations (a closed set, checked when a component is registered):
`int`, `float`, `bool`, `str`, `Any` (raw JSON), `Literal[...]`, `Optional[X]`, `Union[X, Y]` (tried in
order), `List[X]`, `Sequence[X]`, `Tuple[X, ...]`, `Tuple[X, Y]`, `Set[X]`, `Dict[str, X]`, any
`FromParams` class (a `Registrable` base picks its implementation with the `"type"` key, falling
back to `default_implementation`; a class chooses through the `choose_implementation` hook), `Lazy[X]`
(defined here, beside the `build` it calls), and `Annotated[X, constraint]` (X with a value constraint
from `lmlab.common.constraints`, e.g. `Probability`).

Checks: each argument against its type and constraints, then the class's `check_arguments` hook on
the arguments together; both run when validating and when building, so `lmlab check` refuses what the
constructor would.

Run-time arguments: keyword arguments given to `from_params` go to that object's constructor (and
must not also appear in the config). The *injectable* names in `INJECTABLE` (`vocab`,
`serialization_dir`) also travel down to every nested constructor that declares a parameter of that
name and whose config does not set it.

Every object built here remembers its *filled* config (all defaults made explicit); `to_params(obj)`
returns it, so a run can write back exactly what it built.

`validate(annotation, config)` reads a config exactly as building it would (same keys, types, names,
required arguments, nested blocks and `Lazy` blocks) but calls no constructor: it needs no data and no
run-time values, and returns the filled config or raises one `ConfigurationError` holding every problem.
Checks that need the built objects (a dimension mismatch between two blocks) happen only when building.

Errors: a `ConfigurationError` raised by a constructor gets the config path of the object it builds.
Any other exception from a constructor is not a config mistake and propagates unchanged.
"""
import collections.abc
import copy
import inspect
import json
import typing
from typing import Any, Dict, Generic, Iterator, List, Optional, Sequence, Tuple, Type, TypeGuard, TypeVar, Union

from lmlab.common.coercion import coerce_primitive
from lmlab.common.coercion import found as _found
from lmlab.common.constraints import Constraint
from lmlab.common.errors import ConfigurationError, LmlabError, did_you_mean
from lmlab.common.params import Params, join_path

T = TypeVar("T", bound="FromParams")
L = TypeVar("L")

INJECTABLE = ("vocab", "serialization_dir")
"""Run-time values passed down to any nested constructor with a parameter of the same name."""

_CONFIG_ATTRIBUTE = "_lmlab_config"


class FromParams:
    """Mixin: `cls.from_params(params, **extras)` builds an instance from a config.

    Override `from_params` (a classmethod with the same signature) when a constructor's arguments do
    not map one-to-one onto config keys. List in `run_time_arguments` the constructor arguments that
    lmlab always passes at run time (e.g. an optimizer's `model_parameters`): their annotations need
    not be buildable from a config.
    """

    run_time_arguments: Tuple[str, ...] = ()

    @classmethod
    def from_params(cls: Type[T], params: Union[Params, Dict[str, Any]], **extras: Any) -> T:
        if not isinstance(params, Params):
            params = Params(params)
        injected = {k: v for k, v in extras.items() if k in INJECTABLE}
        value, _ = _build_object(cls, params, params.history, injected, extras)
        return value

    @classmethod
    def choose_implementation(cls, params: Params, path: str) -> Tuple[type, Optional[str], Dict[str, Any]]:
        """Hook: which class a config for `cls` builds, and how.

        Returns (class, name of an alternative constructor or None, the keys this choice read, for the
        filled config). It may pop keys from `params` (a `Registrable` base pops `"type"`). Default:
        `cls` itself, through `__init__`.
        """
        return cls, None, {}

    @classmethod
    def check_arguments(cls, arguments: Dict[str, Any]) -> Iterator[ConfigurationError]:
        """Hook: how the constructor's config arguments relate (`warmup_steps` <= `total_steps`, ...).

        `arguments` holds every argument read from the config or taken from its default, as JSON (a
        nested block as its filled config); run-time arguments (`vocab`, an optimizer's parameters) are
        absent. Yield one `ConfigurationError` per problem, located at the offending key; `FromParams`
        adds the block's path and reports them all together. It runs both when validating (`lmlab check`,
        nothing built) and before the constructor is called, and only once every argument has passed its
        own type and constraints. A check on one argument belongs in its type (`lmlab.common.constraints`),
        not here. Default: nothing to check.
        """
        return iter(())

    @classmethod
    def config_name(cls) -> str:
        """How messages name this class (\"unknown key for ...\"): a registered name where it has one."""
        return cls.__name__


class Lazy(Generic[L]):
    """`Lazy[T]`: a config for an object that can only be built once run-time arguments exist.

    An optimizer needs the model's parameters, a learning-rate scheduler needs the optimizer; their
    constructors annotate those arguments as `Lazy[Optimizer]`, and the caller later does
    `lazy_optimizer.construct(model_parameters=...)`. Every other argument comes from the config, and
    config errors still name the config path the `Lazy` was read from. `construct` builds a fresh object
    each call.
    """

    def __init__(self, annotation: Any, params: Optional[Params] = None,
                 injected: Optional[Dict[str, Any]] = None) -> None:
        self._annotation = annotation
        self._params = params if params is not None else Params({})
        self._injected = dict(injected or {})

    @property
    def config(self) -> Dict[str, Any]:
        """The config this object will be built from, as given (defaults are filled on construction)."""
        return self._params.as_dict()

    def construct(self, **kwargs: Any) -> L:
        params = Params(copy.deepcopy(self._params.params), self._params.history)
        value, _ = build(self._annotation, params, self._params.history, self._injected, explicit=kwargs)
        return typing.cast(L, value)

    def __repr__(self) -> str:
        name = getattr(self._annotation, "__name__", str(self._annotation))
        return f"Lazy[{name}]({self.config})"


def validate(annotation: Any, value: Any, path: str = "", run_time: Sequence[str] = ()) -> Any:
    """The filled config of `value` read as `annotation`, checked as building it would be; nothing is built.

    `run_time` names the keyword arguments the caller will pass when building (as `from_params(params,
    **extras)` or `Lazy.construct(**kwargs)` would get them): they are not required from the config, and
    the injectable ones among them count as given to every nested constructor. Inside a `Lazy[X]` block
    the names in `X.run_time_arguments` are the ones its `construct` is given. `value` is not modified.
    Raises one `ConfigurationError` with every problem found.
    """
    value = value.duplicate() if isinstance(value, Params) else _as_params(_copy(value), path)
    explicit = dict.fromkeys(run_time)
    injected = {name: None for name in run_time if name in INJECTABLE}
    filled = build(annotation, value, path, injected, explicit, check=True)[1]
    return json.loads(json.dumps(filled))  # as a config file holds it (a tuple default becomes a list)


def classes_in(annotation: Any, config: Any) -> List[type]:
    """Every `FromParams` class that building `config` (a filled config, as `validate` returns it) as
    `annotation` constructs, outermost first; nothing is built. A class whose own `from_params` reads its
    block counts, but not what that block holds. An archive records the distributions these come from."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if config is None or annotation is Any:
        return []
    if origin in (typing.Annotated, Lazy):
        return classes_in(args[0], config)
    if origin is Union:  # the option of the value's shape: an object, a list or a scalar
        shaped = [arg for arg in args if arg is not type(None) and _annotation_shape(arg) == _value_shape(config)]
        return classes_in(shaped[0], config) if shaped else []
    if origin in (list, collections.abc.Sequence, set, tuple) and isinstance(config, list):
        item_types = list(args) if origin is tuple and args and args[-1] is not Ellipsis else \
            [args[0] if args else Any] * len(config)
        return [klass for item_type, item in zip(item_types, config, strict=False)
                for klass in classes_in(item_type, item)]
    if origin in (dict, collections.abc.Mapping) and isinstance(config, dict):
        return [klass for item in config.values() for klass in classes_in(args[1] if args else Any, item)]
    if not _is_from_params(annotation) or not isinstance(config, dict):
        return []
    chosen, constructor_name, _ = annotation.choose_implementation(Params(_copy(config)), "")
    if _overrides_from_params(chosen):
        return [chosen]
    parameters = constructor_parameters(chosen, constructor_name)
    return [chosen, *(klass for name, (parameter, _) in parameters.items() if name in config
                      for klass in classes_in(parameter, config[name]))]


def _value_shape(value: Any) -> str:
    return "object" if isinstance(value, dict) else "list" if isinstance(value, list) else "scalar"


def _annotation_shape(annotation: Any) -> str:
    """The JSON shape ("object", "list" or "scalar") a value read as `annotation` has."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _annotation_shape(typing.get_args(annotation)[0])
    if origin in (list, collections.abc.Sequence, set, tuple):
        return "list"
    if origin in (dict, collections.abc.Mapping, Lazy) or _is_from_params(annotation):
        return "object"
    return "scalar"


def to_params(obj: Any) -> Dict[str, Any]:
    """The filled config `obj` was built from (every default explicit)."""
    config = getattr(obj, _CONFIG_ATTRIBUTE, None)
    if config is None:
        raise ConfigurationError(f"{type(obj).__name__} was not built from a config, so it has no config to write")
    return json.loads(json.dumps(config))


# ------------------------------------------------------------------------------------------------
# Building


def build(annotation: Any, value: Any, path: str, injected: Dict[str, Any],
          explicit: Optional[Dict[str, Any]] = None, check: bool = False) -> Tuple[Any, Any]:
    """Build `value` (plain JSON or `Params`) as `annotation`; returns (object, filled config).

    With `check`, everything is read and checked but no constructor is called (the object is None).
    """
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)

    if annotation is Any or annotation is inspect.Parameter.empty:
        plain = value.as_dict() if isinstance(value, Params) else value
        return plain, plain
    if origin is Union:
        return _build_union(args, value, path, injected, explicit, check)
    if origin is typing.Annotated:
        built, filled = build(args[0], value, path, injected, explicit, check)
        for constraint in args[1:]:
            problem = constraint.check(filled) if isinstance(constraint, Constraint) and filled is not None else None
            if problem:
                raise ConfigurationError(problem, path)
        return built, filled
    if value is None:
        raise ConfigurationError(f"expected {describe(annotation)}, found null", path)
    if origin is typing.Literal:
        if not any(value == arg and type(value) is type(arg) for arg in args):
            hint = did_you_mean(value, [a for a in args if isinstance(a, str)]) if isinstance(value, str) else ""
            raise ConfigurationError(f"expected one of {', '.join(map(repr, args))}, found {value!r}{hint}", path)
        return value, value
    if origin is Lazy:
        params = _expect_params(value, annotation, path)
        if check:  # what `construct` will read, given the run-time arguments its base class declares
            run_time = dict.fromkeys(args[0].run_time_arguments if _is_from_params(args[0]) else ())
            return build(args[0], params, path, injected, run_time, check)
        return Lazy(args[0], params, injected), params.as_dict()
    if origin in (list, collections.abc.Sequence, set, tuple):
        return _build_collection(origin, args, annotation, value, path, injected, check)
    if origin in (dict, collections.abc.Mapping):
        return _build_dict(args, annotation, value, path, injected, check)
    if annotation in (int, float, bool, str):
        coerced = coerce_primitive(annotation, value, path)
        return coerced, coerced
    if isinstance(annotation, type) and issubclass(annotation, FromParams):
        params = _expect_params(value, annotation, path)
        return _build_object(annotation, params, path, injected, explicit or {}, check)
    raise ConfigurationError(f"{describe(annotation)} cannot be built from a config", path)


def _build_union(args: Tuple[Any, ...], value: Any, path: str, injected: Dict[str, Any],
                 explicit: Optional[Dict[str, Any]], check: bool) -> Tuple[Any, Any]:
    options = [arg for arg in args if arg is not type(None)]
    if value is None:
        if len(options) < len(args):
            return None, None
        raise ConfigurationError(f"expected {' or '.join(map(describe, options))}, found null", path)
    if len(options) == 1:
        return build(options[0], value, path, injected, explicit, check)
    errors: List[LmlabError] = []
    for option in options:  # first that fits wins; each try gets its own copy
        try:
            return build(option, _copy(value), path, injected, explicit, check)
        except ConfigurationError as err:
            errors.append(err)
    raise ConfigurationError(f"expected {' or '.join(map(describe, options))}, found {_found(value)} "
                             f"({errors[-1].problems[0][1]})", path)


def _build_collection(origin: Any, args: Tuple[Any, ...], annotation: Any, value: Any, path: str,
                      injected: Dict[str, Any], check: bool) -> Tuple[Any, Any]:
    if not isinstance(value, (list, tuple)):
        raise ConfigurationError(f"expected {describe(annotation)}, found {_found(value)}", path)
    if origin is tuple and args and args[-1] is not Ellipsis:
        if len(value) != len(args):
            raise ConfigurationError(
                f"expected {describe(annotation)} of length {len(args)}, found length {len(value)}", path)
        item_types = list(args)
    else:
        item_types = [args[0] if args else Any] * len(value)
    built, filled, errors = [], [], []
    for index, (item_type, item) in enumerate(zip(item_types, value, strict=False)):
        item_path = join_path(path, index)
        try:
            obj, fill = build(item_type, _as_params(item, item_path), item_path, injected, check=check)
        except ConfigurationError as err:
            errors.append(err)
            continue
        built.append(obj)
        filled.append(fill)
    if errors:
        raise ConfigurationError.combine(errors)
    container = {list: list, collections.abc.Sequence: list, set: set, tuple: tuple}[origin]
    return container(built), filled


def _build_dict(args: Tuple[Any, ...], annotation: Any, value: Any, path: str,
                injected: Dict[str, Any], check: bool) -> Tuple[Any, Any]:
    if isinstance(value, Params):
        value = value.params
    if not isinstance(value, dict):
        raise ConfigurationError(f"expected {describe(annotation)}, found {_found(value)}", path)
    value_type = args[1] if len(args) == 2 else Any
    built, filled, errors = {}, {}, []
    for key, item in value.items():
        item_path = join_path(path, key)
        try:
            built[key], filled[key] = build(value_type, _as_params(item, item_path), item_path, injected,
                                            check=check)
        except ConfigurationError as err:
            errors.append(err)
    if errors:
        raise ConfigurationError.combine(errors)
    return built, filled


def _build_object(cls: type, params: Params, path: str, injected: Dict[str, Any],
                  explicit: Dict[str, Any], check: bool = False) -> Tuple[Any, Dict[str, Any]]:
    """Build a FromParams class: choose the implementation, then call its constructor."""
    chosen, constructor_name, filled = typing.cast(Type[FromParams], cls).choose_implementation(params, path)
    if _overrides_from_params(chosen):
        snapshot = params.as_dict()
        if check:  # its own `from_params` decides what its keys mean: only the type can be checked here
            filled.update(snapshot)
            return None, filled
        obj = typing.cast(Type[FromParams], chosen).from_params(params, **{**injected, **explicit})
        filled.update(snapshot)
        _remember(obj, filled)
        return obj, filled

    constructor = getattr(chosen, constructor_name) if constructor_name else chosen
    kwargs, fills = _constructor_arguments(chosen, constructor_name, params, path, injected, explicit, check)
    # relations between arguments, from the config alone: the same whether or not we build
    problems = list(typing.cast(Type[FromParams], chosen).check_arguments(json.loads(json.dumps(fills))))
    if problems:
        raise ConfigurationError.combine([problem.relocate(path) for problem in problems])
    filled.update(fills)
    if check:
        return None, filled
    try:
        obj = constructor(**kwargs)
    except ConfigurationError as err:  # the constructor's own check of its arguments: locate it in the config
        err.relocate(path)
        raise
    _remember(obj, filled)
    return obj, filled


def _constructor_arguments(cls: type, constructor_name: Optional[str], params: Params, path: str,
                           injected: Dict[str, Any], explicit: Dict[str, Any],
                           check: bool) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    kwargs: Dict[str, Any] = {}
    filled: Dict[str, Any] = {}
    errors: List[LmlabError] = []
    parameters = constructor_parameters(cls, constructor_name)
    for name, (annotation, default) in parameters.items():
        key_path = join_path(path, name)
        if name in explicit:
            if name in params:
                errors.append(ConfigurationError("is set by lmlab at run time; remove it from the config", key_path))
                params.pop(name)
            kwargs[name] = explicit[name]
        elif name in params:
            try:
                value = _as_params(params.pop(name), key_path)
                kwargs[name], filled[name] = build(annotation, value, key_path, injected, check=check)
            except ConfigurationError as err:
                errors.append(err)
        elif name in injected:
            kwargs[name] = injected[name]
        elif default is not inspect.Parameter.empty:
            if name not in INJECTABLE and _is_json(default):
                filled[name] = default
        else:
            errors.append(ConfigurationError(f"missing required key ({describe(annotation)}) for {cls.__name__}",
                                             key_path))
    try:
        owner = typing.cast(Type[FromParams], cls).config_name()
        params.assert_empty(f'"{owner}"', allowed=[n for n in parameters if n not in explicit])
    except ConfigurationError as err:
        errors.append(err)
    if errors:
        raise ConfigurationError.combine(errors)
    return kwargs, filled


def constructor_parameters(cls: type, constructor_name: Optional[str] = None) -> Dict[str, Tuple[Any, Any]]:
    """{name: (annotation, default)} of the constructor, following `**kwargs` into base classes."""
    result: Dict[str, Tuple[Any, Any]] = {}
    functions = [getattr(cls, constructor_name)] if constructor_name else [
        vars(klass)["__init__"] for klass in cls.__mro__ if "__init__" in vars(klass) and klass is not object]
    for function in functions:
        signature = inspect.signature(function)
        try:
            hints = typing.get_type_hints(function, include_extras=True)  # keep Annotated constraints
        except Exception:  # unresolvable forward reference: fall back to the raw annotations
            hints = {}
        has_var_kwargs = False
        for name, parameter in signature.parameters.items():
            if name in ("self", "cls") or parameter.kind == parameter.VAR_POSITIONAL:
                continue
            if parameter.kind == parameter.VAR_KEYWORD:
                has_var_kwargs = True
                continue
            result.setdefault(name, (hints.get(name, parameter.annotation), parameter.default))
        if not has_var_kwargs:
            break
    return result


def check_constructor(cls: type, constructor_name: Optional[str] = None) -> None:
    """Fail at registration when a config-settable argument has an annotation we cannot build."""
    if _overrides_from_params(cls):
        return
    run_time = set(INJECTABLE) | set(cls.run_time_arguments if _is_from_params(cls) else ())
    for name, (annotation, default) in constructor_parameters(cls, constructor_name).items():
        problem = _unsupported(annotation)
        if problem and default is inspect.Parameter.empty and name not in run_time:
            raise TypeError(f"{cls.__module__}.{cls.__qualname__}: argument {name!r} has annotation {problem}, "
                            "which FromParams cannot build; use a supported type or give it a default")


def _unsupported(annotation: Any) -> Optional[str]:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is inspect.Parameter.empty:
        return "(none)"
    if origin is typing.Annotated:
        return _unsupported(args[0])
    if annotation in (int, float, bool, str) or annotation is Any or origin is typing.Literal:
        return None
    if origin in (Union, list, collections.abc.Sequence, set, tuple, dict, collections.abc.Mapping, Lazy):
        return next((p for p in map(_unsupported, (a for a in args if a not in (Ellipsis, type(None)))) if p), None)
    if isinstance(annotation, type) and issubclass(annotation, FromParams):
        return None
    return describe(annotation)


# ------------------------------------------------------------------------------------------------
# Primitives and helpers


def describe(annotation: Any) -> str:
    """Human-readable name of an annotation, for messages: `list of int`, `int or null`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Union:
        parts = [describe(a) for a in args if a is not type(None)]
        return " or ".join(parts + (["null"] if type(None) in args else []))
    if origin in (list, collections.abc.Sequence, set):
        return f"list of {describe(args[0])}" if args else "list"
    if origin is tuple:
        if args and args[-1] is Ellipsis:
            return f"list of {describe(args[0])}"
        return f"list [{', '.join(map(describe, args))}]"
    if origin in (dict, collections.abc.Mapping):
        return f"object of {describe(args[1])}" if len(args) == 2 else "object"
    if origin is Lazy:
        return describe(args[0])
    if origin is typing.Annotated:
        return " ".join([describe(args[0]), *(arg.describe() for arg in args[1:] if isinstance(arg, Constraint))])
    if origin is typing.Literal:
        return " or ".join(map(repr, args))
    if annotation is Any:
        return "any value"
    return getattr(annotation, "__name__", str(annotation))


def _expect_params(value: Any, annotation: Any, path: str) -> Params:
    if isinstance(value, Params):
        return value
    if isinstance(value, dict):
        return Params(value, path)
    raise ConfigurationError(f"expected an object for {describe(annotation)}, found {_found(value)}", path)


def _as_params(value: Any, path: str) -> Any:
    return Params(value, path) if isinstance(value, dict) else value


def _copy(value: Any) -> Any:
    return value.duplicate() if isinstance(value, Params) else json.loads(json.dumps(value))


def _is_json(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _is_from_params(annotation: Any) -> TypeGuard[Type[FromParams]]:
    return isinstance(annotation, type) and issubclass(annotation, FromParams)


def _overrides_from_params(cls: type) -> bool:
    method = getattr(cls, "from_params", None)
    return getattr(method, "__func__", None) is not vars(FromParams)["from_params"].__func__


def _remember(obj: Any, filled: Dict[str, Any]) -> None:
    try:
        object.__setattr__(obj, _CONFIG_ATTRIBUTE, filled)
    except (AttributeError, TypeError):  # objects with __slots__ or builtins keep no config
        pass
