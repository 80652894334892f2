"""The `lmlab` command line: the one place where user errors are caught and printed.

`main()` imports the installed plugins and `--include-package` modules first (a plugin may add a
command), then dispatches to the registered `Subcommand`. An `LmlabError` prints one line per problem
to stderr and exits with its code (2 for config errors, 1 otherwise); any other exception is a bug and
prints one line ending in "(internal error; rerun with --debug)". `--debug` re-raises with the traceback.
"""
import argparse
import importlib
import logging
import sys
from typing import List, Optional

from lmlab.common.errors import LmlabError
from lmlab.common.plugins import import_module_and_submodules, import_plugins
from lmlab.version import VERSION

BUILTIN_COMMANDS = ["list", "check", "train", "evaluate", "predict", "classify", "elmo", "serve", "prune"]
"""Modules under `lmlab.commands` that register the built-in subcommands."""


def _common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--include-package", action="append", default=[], metavar="PACKAGE",
                        help="import PACKAGE (and its submodules) to register its components; repeatable")
    common.add_argument("--debug", action="store_true", help="show full tracebacks")
    return common


def build_parser() -> argparse.ArgumentParser:
    from lmlab.commands.subcommand import Subcommand

    for name in BUILTIN_COMMANDS:
        importlib.import_module(f"lmlab.commands.{name}")
    common = _common_options()
    parser = argparse.ArgumentParser(prog="lmlab", description="Train, evaluate and use language models.",
                                     parents=[common])
    parser.add_argument("--version", action="version", version=f"lmlab {VERSION}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in Subcommand.list_available():
        command = Subcommand.by_name(name)()
        command.add_subparser(subparsers, [common]).set_defaults(command=command)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    # Not `list(...)`: importing the submodule `lmlab.commands.list` binds the name `list` in this package.
    argv = [*(sys.argv[1:] if argv is None else argv)]
    early, _ = _common_options().parse_known_args(argv)
    # before the plugins are imported: a plugin that fails to import is logged as a warning
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("lmlab").setLevel(logging.DEBUG if early.debug else logging.INFO)
    try:
        import_plugins()
        for package in early.include_package:
            import_module_and_submodules(package)
        parser = build_parser()
        args = parser.parse_args(argv)
        if not hasattr(args, "command"):
            parser.print_help()
            return 2
        return int(args.command.run(args) or 0)
    except LmlabError as err:
        if early.debug:
            raise
        for line in err.lines():
            print(f"lmlab: {line}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("lmlab: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if early.debug:
            raise
        print(f"lmlab: {type(err).__name__}: {err} (internal error; rerun with --debug)", file=sys.stderr)
        return 1
