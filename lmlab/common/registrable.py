"""`Registrable`: per-base-class registries of named implementations.

A base class that inherits *directly* from `Registrable` owns a registry. Implementations register a
short, stable snake_case name, the `"type"` a config uses:

    class Seq2SeqEncoder(torch.nn.Module, Registrable): ...

    @Seq2SeqEncoder.register("lstm")
    class LstmEncoder(Seq2SeqEncoder): ...

`Seq2SeqEncoder.by_name("lstm")` returns the class; a fully qualified `"package.module.ClassName"` is
accepted as well. A name that is not found triggers one import of the installed plugins (entry-point
group `lmlab.plugins`) before it is reported, with a did-you-mean, as a config error.
"""
import importlib
import re
from typing import Any, Callable, ClassVar, Dict, List, Optional, Tuple, Type, TypeVar, cast

from lmlab.common.coercion import found
from lmlab.common.errors import ConfigurationError, did_you_mean
from lmlab.common.from_params import FromParams, check_constructor
from lmlab.common.params import Params, join_path
from lmlab.common.plugins import import_plugins

R = TypeVar("R", bound="Registrable")


class Registrable(FromParams):
    """Mixin giving a base class its own registry. See the module docstring."""

    # base class -> {name: (implementation, name of an alternative constructor or None)}
    _registry: ClassVar[Dict[Type["Registrable"], Dict[str, Tuple[type, Optional[str]]]]] = {}
    default_implementation: ClassVar[Optional[str]] = None
    """Name used when a config for this base omits `"type"`."""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if Registrable in cls.__bases__:
            Registrable._registry.setdefault(cls, {})

    @classmethod
    def is_registry_base(cls) -> bool:
        """True for a class that owns a registry (its config picks an implementation with "type")."""
        return cls in Registrable._registry

    @classmethod
    def registry_base(cls) -> Optional[Type["Registrable"]]:
        """The class owning the registry `cls` belongs to (the nearest direct `Registrable` child)."""
        return next((klass for klass in cls.__mro__ if klass in Registrable._registry), None)

    @classmethod
    def registry_name(cls) -> str:
        """snake_case name of the registry, as used by `lmlab list`: Seq2SeqEncoder -> seq2seq_encoder."""
        base = cls.registry_base() or cls
        return re.sub(r"(?<=[a-z])(?=[A-Z])", "_", base.__name__).lower()

    @classmethod
    def register(cls, name: str, constructor: Optional[str] = None,
                 exist_ok: bool = False) -> Callable[[Type[R]], Type[R]]:
        """Class decorator registering the class under `name` in `cls`'s registry.

        `constructor` names a classmethod to build it with instead of `__init__` (e.g. "from_files").
        Registering a name twice is an error unless `exist_ok` (or it is the same class re-imported).
        """
        registry = Registrable._registry.setdefault(cls, {})

        def decorate(subclass: Type[R]) -> Type[R]:
            if name in registry and not exist_ok:
                existing = registry[name][0]
                if (existing.__module__, existing.__qualname__) != (subclass.__module__, subclass.__qualname__):
                    raise ConfigurationError(
                        f'{cls.__name__} "{name}" is already registered by '
                        f"{existing.__module__}.{existing.__qualname__}; cannot register "
                        f"{subclass.__module__}.{subclass.__qualname__} under the same name")
            check_constructor(subclass, constructor)
            registry[name] = (subclass, constructor)
            return subclass

        return decorate

    @classmethod
    def resolve_class_name(cls, name: str) -> Tuple[type, Optional[str]]:
        """(implementation, constructor name) for a registered name or a "package.module.Class" path."""
        registry = Registrable._registry.get(cls, {})
        if name not in registry:
            import_plugins()  # a plugin may provide it; cheap after the first call
        if name in registry:
            return registry[name]
        if "." in name:
            return _import_class(cls, name), None
        available = cls.list_available()
        raise ConfigurationError(
            f'unknown {cls.__name__} "{name}"{did_you_mean(name, available)} '
            f"(available: {', '.join(available) or 'none'}; see `lmlab list {cls.registry_name()}`)")

    @classmethod
    def choose_implementation(cls, params: Params, path: str) -> Tuple[type, Optional[str], Dict[str, Any]]:
        """`FromParams`' hook: a registry base reads `"type"` (or takes `default_implementation`); an
        implementation builds itself."""
        if not cls.is_registry_base():
            return cls, None, {}
        type_name = params.pop("type", cls.default_implementation)
        if type_name is None:
            raise ConfigurationError(
                f'missing key "type" for {cls.__name__} (one of: {", ".join(cls.list_available())})',
                join_path(path, "type"))
        if not isinstance(type_name, str):
            raise ConfigurationError(f"expected a {cls.__name__} name (str), found {found(type_name)}",
                                     join_path(path, "type"))
        try:
            chosen, constructor_name = cls.resolve_class_name(type_name)
        except ConfigurationError as err:
            raise err.relocate(join_path(path, "type")) from None
        return chosen, constructor_name, {"type": type_name}

    @classmethod
    def implementation_of(cls: Type[R], config: Dict[str, Any]) -> Type[R]:
        """The class a filled config of `cls` (a registry base: its `"type"`, else the default) builds."""
        if not cls.is_registry_base():
            return cls
        return cast(Type[R], cls.resolve_class_name(config.get("type") or cls.default_implementation or "")[0])

    @classmethod
    def config_name(cls) -> str:
        base = cls.registry_base()
        return (base.name_of(cls) if base is not None else None) or cls.__name__

    @classmethod
    def by_name(cls: Type[R], name: str) -> Callable[..., R]:
        """The class registered as `name`, or its registered alternative constructor."""
        subclass, constructor = cls.resolve_class_name(name)
        return cast(Callable[..., R], getattr(subclass, constructor) if constructor else subclass)

    @classmethod
    def is_registered(cls, name: str) -> bool:
        return name in Registrable._registry.get(cls, {})

    @classmethod
    def list_available(cls) -> List[str]:
        """Registered names, sorted, with the default implementation first."""
        names = sorted(Registrable._registry.get(cls, {}))
        default = cls.default_implementation
        if default in names:
            names.remove(default)
            names.insert(0, default)
        return names

    @classmethod
    def name_of(cls, subclass: type) -> Optional[str]:
        """The name `subclass` is registered under in `cls`'s registry, if any."""
        for name, (klass, _) in Registrable._registry.get(cls, {}).items():
            if klass is subclass:
                return name
        return None


def registry_bases() -> List[Type[Registrable]]:
    """Every class that owns a registry, sorted by registry name."""
    return sorted(Registrable._registry, key=lambda base: base.registry_name())


def _import_class(base: type, dotted: str) -> type:
    module_name, _, class_name = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigurationError(f'cannot import module "{module_name}" for {base.__name__} "{dotted}": {err}') from err
    subclass = getattr(module, class_name, None)
    if not isinstance(subclass, type) or not issubclass(subclass, base):
        raise ConfigurationError(f'"{dotted}" is not a {base.__name__} subclass')
    return subclass
