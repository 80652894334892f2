"""`lmlab predict ARCHIVE INPUT|-`: JSON lines in, one JSON line out per input line, in order."""
import argparse
import json
import sys
from typing import Any, Callable, Dict, Iterator, List, Tuple

from overrides import overrides

from lmlab.commands.subcommand import Subcommand

MAX_LINE_BYTES = 1_000_000


@Subcommand.register("predict")
class Predict(Subcommand):
    """Run a predictor over JSON lines; a bad line gets {"error": ...} in its place, the rest are answered."""

    @overrides
    def add_subparser(self, subparsers: "argparse._SubParsersAction",
                      parents: "list[argparse.ArgumentParser]") -> argparse.ArgumentParser:
        parser = subparsers.add_parser("predict", parents=parents, help=(self.__doc__ or "").partition("\n")[0],
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

    @overrides
    def run(self, args: argparse.Namespace) -> int:
        from lmlab.commands.list import import_builtin_components
        from lmlab.models.archival import load_archive
        from lmlab.predictors.predictor import Predictor

        import_builtin_components()
        check_batch_size(args.batch_size)
        lines = read_json_lines(args.input)
        predictor = Predictor.from_archive(load_archive(args.archive, args.overrides, args.cuda_device),
                                           args.predictor)
        return answer_json_lines(predictor.predict_batch_json, lines, args)


def check_batch_size(batch_size: int) -> None:
    from lmlab.common.errors import ConfigurationError

    if batch_size < 1:
        raise ConfigurationError(f"--batch-size must be positive, found {batch_size}")


def read_json_lines(path: str) -> List[Tuple[int, Any]]:
    """[(line number, parsed JSON or a per-line error)] of a file or "-"; no lines at all is an error."""
    from lmlab.common.errors import InputError

    name = "<stdin>" if path == "-" else path
    if path == "-":
        lines = list(_lines(sys.stdin.buffer))
    else:
        try:
            with open(path, "rb") as stream:
                lines = list(_lines(stream))
        except OSError as err:
            raise InputError(f"cannot read prediction input: {err.strerror}", name) from None
    if not lines:
        raise InputError("no input lines", name)
    return lines


def answer_json_lines(predict_batch: Callable[[List[Any]], List[Dict[str, Any]]], lines: List[Tuple[int, Any]],
                      args: argparse.Namespace) -> int:
    """Answer `lines` in batches of `args.batch_size`: one output line per input line, in order, printed
    (unless `args.silent`) and written atomically to `args.output_file`. Bad lines get located errors."""
    from lmlab.common.file_utils import atomic_write

    name = "<stdin>" if args.input == "-" else args.input
    outputs: List[str] = []
    errors = 0
    for start in range(0, len(lines), args.batch_size):
        chunk = lines[start:start + args.batch_size]
        answers = iter(predict_batch([item for _, item in chunk if not isinstance(item, _Bad)]))
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


def _lines(stream: Any) -> Iterator[Tuple[int, Any]]:
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
