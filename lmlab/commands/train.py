"""`lmlab train CONFIG -s DIR`: train a model from a Jsonnet config and archive it.

Distributed: under torchrun (`torchrun --nproc-per-node N -m lmlab train ...`) every process joins the
process group torchrun describes; `--nproc N` starts N such processes on this machine itself."""
import argparse
from typing import TYPE_CHECKING

from lmlab.commands.check import print_checked_config
from lmlab.commands.subcommand import Subcommand

if TYPE_CHECKING:
    from lmlab.common.params import Params


@Subcommand.register("train")
class Train(Subcommand):
    """Train a model from a config; writes checkpoints, metrics and model.tar.gz to DIR."""

    def add_subparser(self, subparsers, parents):
        parser = subparsers.add_parser("train", parents=parents, help=self.__doc__.splitlines()[0],
                                       description=self.__doc__)
        parser.add_argument("config", help="a .jsonnet or .json config file")
        parser.add_argument("-s", "--serialization-dir", help="where to write the run (required unless --dry-run)")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("-r", "--recover", action="store_true",
                           help="continue the run in DIR from its newest checkpoint")
        group.add_argument("-f", "--force", action="store_true",
                           help="replace the run in DIR (deleted only once the new run is ready to train)")
        parser.add_argument("-o", "--overrides", default="",
                            help='JSON/Jsonnet merged into the config, e.g. \'{"trainer.num_epochs": 1}\'')
        parser.add_argument("--cuda-device", type=int, default=None,
                            help="-1 for CPU, k for GPU k (default: the config's, else the GPU when present)")
        parser.add_argument("--dry-run", action="store_true",
                            help="only check the config (no data read, nothing written) and print it filled in")
        parser.add_argument("--nproc", type=int, default=1, metavar="N",
                            help="train data-parallel in N processes on this machine (as torchrun --nproc-per-node N)")
        self._parser = parser
        return parser

    def run(self, args: argparse.Namespace) -> int:
        from lmlab.commands.list import import_builtin_components
        from lmlab.common.params import Params
        from lmlab.training.distributed import is_main_process, process_group_from_environment
        from lmlab.training.experiment import train_model

        if args.dry_run:
            return print_checked_config(args.config, args.overrides, args.cuda_device)
        if args.serialization_dir is None:
            self._parser.error("the following arguments are required: -s/--serialization-dir (unless --dry-run)")
        import_builtin_components()
        params = Params.from_file(args.config, args.overrides)
        if args.nproc < 1:
            self._parser.error(f"--nproc: expected a number of processes >= 1, found {args.nproc}")
        if args.nproc > 1:
            return _launch(args, params)
        with process_group_from_environment():
            train_model(params, args.serialization_dir, recover=args.recover, force=args.force,
                        cuda_device=args.cuda_device)
            if is_main_process():
                print(f"lmlab: model written to {args.serialization_dir}/model.tar.gz")
        return 0


def _launch(args: argparse.Namespace, params: "Params") -> int:
    """`--nproc N`: check the config once here (one error message, not N), then run this same command
    without `--nproc` in N processes."""
    from lmlab.training.distributed import launch
    from lmlab.training.experiment import check_config

    check_config(params, args.cuda_device)
    argv = ["train", args.config, "-s", args.serialization_dir, "-o", args.overrides]
    argv += ["--recover"] * args.recover + ["--force"] * args.force + ["--debug"] * args.debug
    argv += [] if args.cuda_device is None else ["--cuda-device", str(args.cuda_device)]
    for package in args.include_package:
        argv += ["--include-package", package]
    return launch(args.nproc, argv)
