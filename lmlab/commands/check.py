"""`lmlab check CONFIG`: check a training config without reading any data, and print it filled in."""
import argparse
import json
from typing import Optional

from lmlab.commands.subcommand import Subcommand


@Subcommand.register("check")
class Check(Subcommand):
    """Check every block of a training config (no data read) and print it with its defaults filled in.

    Exit code 0 when the config is valid, 2 with one located line per problem otherwise. This is the pass
    `lmlab train` runs before it reads any data; `lmlab train CONFIG --dry-run` does the same.
    """

    def add_subparser(self, subparsers, parents):
        parser = subparsers.add_parser("check", parents=parents, help=self.__doc__.splitlines()[0],
                                       description=self.__doc__)
        parser.add_argument("config", help="a .jsonnet or .json config file")
        parser.add_argument("-o", "--overrides", default="",
                            help='JSON/Jsonnet merged into the config, e.g. \'{"trainer.num_epochs": 1}\'')
        return parser

    def run(self, args: argparse.Namespace) -> int:
        return print_checked_config(args.config, args.overrides)


def print_checked_config(config: str, overrides: str, cuda_device: Optional[int] = None) -> int:
    """Print the filled config of `config` + `overrides` as JSON; its problems are raised, all at once."""
    from lmlab.commands.list import import_builtin_components
    from lmlab.common.params import Params
    from lmlab.training.experiment import check_config

    import_builtin_components()
    print(json.dumps(check_config(Params.from_file(config, overrides), cuda_device), indent=2))
    return 0
