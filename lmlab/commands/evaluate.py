"""`lmlab evaluate ARCHIVE DATA`: loss and metrics (perplexity) of an archived model on a dataset."""
import argparse

from overrides import overrides

from lmlab.commands.subcommand import Subcommand


@Subcommand.register("evaluate")
class Evaluate(Subcommand):
    """Evaluate an archived model on a data file; prints the metrics as JSON."""

    @overrides
    def add_subparser(self, subparsers: "argparse._SubParsersAction",
                      parents: "list[argparse.ArgumentParser]") -> argparse.ArgumentParser:
        parser = subparsers.add_parser("evaluate", parents=parents, help=(self.__doc__ or "").partition("\n")[0],
                                       description=self.__doc__)
        parser.add_argument("archive", help="model.tar.gz (path or URL)")
        parser.add_argument("data", help="a data file or folder, read with the archive's validation reader")
        parser.add_argument("--output-file", help="also write the metrics JSON here")
        parser.add_argument("--batch-size", type=int, help="override the data loader's batch size")
        parser.add_argument("--cuda-device", type=int, default=-1, help="-1 for CPU (default), k for GPU k")
        parser.add_argument("-o", "--overrides", default="", help="JSON/Jsonnet merged into the archived config")
        return parser

    @overrides
    def run(self, args: argparse.Namespace) -> int:
        import json

        from lmlab.commands.list import import_builtin_components
        from lmlab.common.errors import ConfigurationError
        from lmlab.common.file_utils import atomic_write
        from lmlab.common.params import merge_overrides
        from lmlab.models.archival import load_archive
        from lmlab.training.evaluation import evaluate_model
        from lmlab.training.experiment import build_data_loader, evaluation_loader_config

        import_builtin_components()
        if args.batch_size is not None and args.batch_size < 1:
            raise ConfigurationError(f"--batch-size must be positive, found {args.batch_size}")
        archive = load_archive(args.archive, args.overrides, cuda_device=args.cuda_device)
        loader_config = evaluation_loader_config(archive.config.get("validation_data_loader"),
                                                 archive.config.get("data_loader"))
        if args.batch_size:
            loader_config = merge_overrides(loader_config, {"batch_size": args.batch_size, "max_tokens": None})
        loader = build_data_loader(loader_config, archive.validation_dataset_reader, args.data)
        loader.index_with(archive.model.vocab)
        metrics = evaluate_model(archive.model, loader, archive.model.device())
        text = json.dumps(metrics, indent=2)
        print(text)
        if args.output_file:
            with atomic_write(args.output_file) as stream:
                stream.write(text + "\n")
        return 0
