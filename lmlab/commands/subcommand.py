"""`Subcommand`: one `lmlab` CLI command, registrable so that a plugin can add its own."""
import argparse

from lmlab.common.registrable import Registrable


class Subcommand(Registrable):
    """A CLI command: registered under the name users type (`lmlab <name>`).

    Contract
        `add_subparser(subparsers)` creates and returns this command's `argparse` parser, whose `--help`
        documents it. `run(args)` does the work and returns the process exit code. Command modules import
        only light modules at the top: heavy imports (torch) go inside `run`, so `lmlab --help` stays fast.
        User mistakes are raised as `lmlab.common.errors.LmlabError`; `lmlab.commands.main` prints them.
    """

    def add_subparser(self, subparsers: "argparse._SubParsersAction",
                      parents: "list[argparse.ArgumentParser]") -> argparse.ArgumentParser:
        raise NotImplementedError

    def run(self, args: argparse.Namespace) -> int:
        raise NotImplementedError
