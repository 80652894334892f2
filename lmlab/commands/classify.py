"""`lmlab classify INPUT --class NAME=ARCHIVE ...`: the most likely class of each sentence under class LMs."""
import argparse
from typing import Dict, List

from overrides import overrides

from lmlab.commands.predict import answer_json_lines, check_batch_size, read_json_lines
from lmlab.commands.subcommand import Subcommand


@Subcommand.register("classify")
class Classify(Subcommand):
    """Classify sentences by which class's language model gives them the highest likelihood."""

    @overrides
    def add_subparser(self, subparsers: "argparse._SubParsersAction",
                      parents: "list[argparse.ArgumentParser]") -> argparse.ArgumentParser:
        parser = subparsers.add_parser("classify", parents=parents, help=(self.__doc__ or "").partition("\n")[0],
                                       description=self.__doc__)
        parser.add_argument("input", help='JSON lines {"sentence": ...}, or "-" for standard input')
        parser.add_argument("--class", dest="classes", action="append", required=True, metavar="NAME=ARCHIVE",
                            help="a class and its language model archive; give two or more")
        parser.add_argument("--prior", action="append", default=[], metavar="NAME=P",
                            help="class prior (default: uniform); give one for every class or none")
        parser.add_argument("--output-file", help="write the output lines here (atomically)")
        parser.add_argument("--batch-size", type=int, default=32)
        parser.add_argument("--silent", action="store_true", help="do not print results to stdout")
        parser.add_argument("--cuda-device", type=int, default=-1)
        return parser

    @overrides
    def run(self, args: argparse.Namespace) -> int:
        from lmlab.commands.list import import_builtin_components
        from lmlab.common.errors import ConfigurationError
        from lmlab.models.archival import load_archive
        from lmlab.models.language_model import LanguageModel
        from lmlab.predictors.language_model import LanguageModelPredictor
        from lmlab.predictors.language_model_classifier import LanguageModelClassifier

        import_builtin_components()
        check_batch_size(args.batch_size)
        classes = _pairs(args.classes, "--class")
        try:
            priors = {name: float(value) for name, value in _pairs(args.prior, "--prior").items()} or None
        except ValueError as err:
            raise ConfigurationError(f"--prior needs NAME=NUMBER: {err}") from None
        lines = read_json_lines(args.input)
        predictors = {}
        for name, archive in classes.items():
            loaded = load_archive(archive, cuda_device=args.cuda_device)
            if not isinstance(loaded.model, LanguageModel):
                raise ConfigurationError(f'expected a "language_model" archive, found {type(loaded.model).__name__} '
                                         f"in {archive}", f"--class {name}")
            predictors[name] = LanguageModelPredictor(loaded.model, loaded.validation_dataset_reader)
        classifier = LanguageModelClassifier(predictors, priors)
        return answer_json_lines(classifier.predict_batch_json, lines, args)


def _pairs(values: List[str], option: str) -> Dict[str, str]:
    from lmlab.common.errors import ConfigurationError

    pairs: Dict[str, str] = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise ConfigurationError(f'{option} expects NAME=VALUE, found "{value}"')
        if name in pairs:
            raise ConfigurationError(f'{option} names "{name}" twice')
        pairs[name] = rest
    return pairs
