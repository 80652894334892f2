"""`lmlab prune TAGGER_ARCHIVE -s DIR`: LD-Net layer selection, then a smaller archive of the tagger."""
import argparse

from overrides import overrides

from lmlab.commands.subcommand import Subcommand


@Subcommand.register("prune")
class Prune(Subcommand):
    """Prune the language models of a crf_tagger archive: learn which layers to keep, delete the others.

    The tagger trains on its own data (its archived config) while the gates of its LMs' layers are pushed
    to 0 or 1 with at most BUDGET left open; the best validation F1 within the budget is kept, its closed
    layers are deleted and DIR/model.tar.gz is written (it loads and predicts like any other archive).
    Set the budget with --overrides, e.g. -o '{"model.layer_selection": {"budget": 2, "strength": 0.05}}'
    (configs/ldnet/conll2000_prune.jsonnet is LD-Net's whole recipe). The tagger's patience and plateau
    schedule are dropped (they would read the within-budget F1, 0 until the budget is met) and refused in
    overrides. The run is prepared and trained beside DIR and moved there only when it is complete: a
    prune that fails leaves DIR as it was.
    """

    @overrides
    def add_subparser(self, subparsers: "argparse._SubParsersAction",
                      parents: "list[argparse.ArgumentParser]") -> argparse.ArgumentParser:
        parser = subparsers.add_parser("prune", parents=parents, help=(self.__doc__ or "").partition("\n")[0],
                                       description=self.__doc__)
        parser.add_argument("archive", help="model.tar.gz of a crf_tagger with language_model_token_embedder features")
        parser.add_argument("-s", "--serialization-dir", required=True, help="where to write the pruning run")
        parser.add_argument("-f", "--force", action="store_true", help="delete DIR's contents first")
        parser.add_argument("-o", "--overrides", default="",
                            help="JSON/Jsonnet merged into the archived config; must set model.layer_selection")
        parser.add_argument("--cuda-device", type=int, default=None,
                            help="-1 for CPU, k for GPU k (default: the config's, else the GPU when present)")
        return parser

    @overrides
    def run(self, args: argparse.Namespace) -> int:
        from lmlab.commands.list import import_builtin_components
        from lmlab.training.pruning import prune_tagger

        import_builtin_components()
        metrics = prune_tagger(args.archive, args.serialization_dir, args.overrides, force=args.force,
                               cuda_device=args.cuda_device)
        print(f"lmlab: kept layers {metrics['kept_layers']}; validation f1-measure-overall "
              f"{metrics['gated_validation_f1-measure-overall']:.4f} gated, "
              f"{metrics['pruned_validation_f1-measure-overall']:.4f} pruned")
        print(f"lmlab: pruned model written to {args.serialization_dir}/model.tar.gz")
        return 0
