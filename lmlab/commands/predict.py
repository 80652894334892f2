"""`lmlab predict ARCHIVE INPUT|-`: JSON lines in, one JSON line out per input line, in order."""
import argparse
import json
import sys
from typing import Any, Iterator, List, Tuple

from lmlab.commands.subcommand import Subcommand

MAX_LINE_BYTES = 1_000_000


@Subcommand.register("predict")
class Predict(Subcommand):
    """Run a predictor over JSON lines; a bad line gets {"error": ...} in its place, the rest are answered."""

    def add_subparser(self, subparsers, parents):
        parser = subparsers.add_parser("predict", parents=parents, help=self.__doc__.splitlines()[0],
                                       description=self.__doc__)
        parser.add_argument("archive", help="model.tar.gz (path or URL)")
        parser.add_argument("input", help='a JSON-lines file, or "-" for standard input')
        parser.add_argument("--output-file", help="write the output lines here (atomically)")
        parser.add_argument("--batch-size", type=int, default=32, help="inputs per model call (default 32)")
        parser.add_argument("--predictor", help="predictor name (default: the model's)")
        parser.add_argument("--silent", action="store_true", help="do not print predictions to stdout")
        parser.add_argument("--cuda-device", type=int, default=-1, help="-1 for CPU (default), k for GPU k")
        parser.add_argument("-o", "--overrides", default="", help="JSON/Jsonnet merged into the archived config")
        return parser

    def run(self, args: argparse.Namespace) -> int:
        from lmlab.commands.list import import_builtin_components
        from lmlab.common.errors import ConfigurationError, InputError
        from lmlab.common.file_utils import atomic_write
        from lmlab.models.archival import load_archive
        from lmlab.predictors.predictor import Predictor

        import_builtin_components()
        if args.batch_size < 1:
            raise ConfigurationError(f"--batch-size must be positive, found {args.batch_size}")
        name = "<stdin>" if args.input == "-" else args.input
        if args.input == "-":
            lines = list(_lines(sys.stdin.buffer, name))
        else:
            try:
                with open(args.input, "rb") as stream:
                    lines = list(_lines(stream, name))
            except OSError as err:
                raise InputError(f"cannot read prediction input: {err.strerror}", name) from None
        if not lines:
            raise InputError("no input lines", name)
        predictor = Predictor.from_archive(load_archive(args.archive, args.overrides, args.cuda_device),
                                           args.predictor)
        outputs: List[str] = []
        errors = 0
        for start in range(0, len(lines), args.batch_size):
            chunk = lines[start:start + args.batch_size]
            parsed = [item for _, item in chunk]
            results = predictor.predict_batch_json([item for item in parsed if not isinstance(item, _Bad)])
            answers = iter(results)
            for number, item in chunk:
                result = {"error": item.message} if isinstance(item, _Bad) else next(answers)
                if "error" in result:
                    errors += 1
                    result = {"error": f"input error at {name}:{number}: {result['error']}"}
                line = json.dumps(result, ensure_ascii=False)
                outputs.append(line)
                if not args.silent:
                    print(line, flush=True)
        if args.output_file:
            with atomic_write(args.output_file) as stream:
                stream.write("\n".join(outputs) + "\n")
        if errors:
            print(f"lmlab: {errors} of {len(lines)} input lines had errors (see their output lines)", file=sys.stderr)
        return 0


class _Bad:
    def __init__(self, message: str) -> None:
        self.message = message


def _lines(stream: Any, name: str) -> Iterator[Tuple[int, Any]]:
    """(line number, parsed JSON or _Bad) for every line; a trailing empty line is not an input."""
    for number, raw in enumerate(stream, start=1):
        raw = raw.rstrip(b"\r\n")
        if len(raw) > MAX_LINE_BYTES:
            yield number, _Bad(f"line longer than {MAX_LINE_BYTES} bytes")
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            yield number, _Bad(f"not UTF-8 (byte {err.start})")
            continue
        if not text.strip():
            yield number, _Bad("empty line")
            continue
        try:
            yield number, json.loads(text)
        except json.JSONDecodeError as err:
            yield number, _Bad(f"invalid JSON: {err.msg} (column {err.colno})")
