"""`lmlab list [REGISTRY]`: registered components per base class, with their one-line summaries."""
import argparse
import importlib
from typing import List, Type

from lmlab.commands.subcommand import Subcommand
from lmlab.common.errors import ConfigurationError, did_you_mean
from lmlab.common.registrable import Registrable

COMPONENT_PACKAGES = ["lmlab.data", "lmlab.modules", "lmlab.models", "lmlab.training", "lmlab.predictors"]
"""Importing these registers every built-in component."""


def import_builtin_components() -> None:
    for package in COMPONENT_PACKAGES:
        importlib.import_module(package)


@Subcommand.register("list")
class ListComponents(Subcommand):
    """List registered components (built-in and from plugins) per registry."""

    def add_subparser(self, subparsers, parents):
        parser = subparsers.add_parser("list", parents=parents, help=self.__doc__.splitlines()[0],
                                       description=self.__doc__)
        parser.add_argument("registry", nargs="?", help="only this registry, e.g. seq2seq_encoder")
        return parser

    def run(self, args: argparse.Namespace) -> int:
        from lmlab.common.registrable import registry_bases

        import_builtin_components()
        bases = registry_bases()
        names = [base.registry_name() for base in bases]
        if args.registry:
            if args.registry not in names:
                raise ConfigurationError(f'unknown registry "{args.registry}"{did_you_mean(args.registry, names)} '
                                         f"(available: {', '.join(names)})")
            bases = [bases[names.index(args.registry)]]
        print("\n\n".join(format_registry(base) for base in bases))
        return 0


def format_registry(base: Type[Registrable]) -> str:
    lines: List[str] = [f"{base.registry_name()} ({base.__module__}.{base.__name__})"]
    names = base.list_available()
    width = max((len(n) for n in names), default=0)
    for name in names:
        subclass, _ = base.resolve_class_name(name)
        summary = (subclass.__doc__ or "").strip().splitlines()[0] if subclass.__doc__ else ""
        origin = "" if subclass.__module__.startswith("lmlab.") else f"  [{subclass.__module__}]"
        default = " (default)" if name == base.default_implementation else ""
        lines.append(f"  {name.ljust(width)}  {summary}{default}{origin}")
    return "\n".join(lines)
