"""`lmlab predict ARCHIVE INPUT|-`: JSON lines in, one JSON line out per input line, in order, as they arrive."""
import argparse
import logging
import queue
import sys
import threading
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

from overrides import overrides

from lmlab.commands.subcommand import Subcommand

MAX_LINE_BYTES = 1_000_000
logger = logging.getLogger(__name__)


@Subcommand.register("predict")
class Predict(Subcommand):
    """Run a predictor over JSON lines; a bad line gets {"error": ...} in its place, the rest are answered.

    Every line is answered: a line that is not strict JSON, or fails the predictor's checks, or even fails
    inside the model (an internal error, whose traceback --debug logs), gets one error line of its own.

    Lines are answered as they arrive, in batches of up to --batch-size of the lines already read, and
    each batch's answers are flushed at once: `lmlab predict` works at the end of a pipe.
    """

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
        lines = read_json_lines(args.input)  # reads ahead while the model loads
        try:
            predictor = Predictor.from_archive(load_archive(args.archive, args.overrides, args.cuda_device),
                                               args.predictor)
        except BaseException:
            lines.close()
            raise
        return answer_json_lines(predictor.predict_batch_json, lines, args)


def check_batch_size(batch_size: int) -> None:
    from lmlab.common.errors import ConfigurationError

    if batch_size < 1:
        raise ConfigurationError(f"--batch-size must be positive, found {batch_size}")


def read_json_lines(path: str) -> "JsonLines":
    """The JSON lines of a file or "-" (standard input), read as they arrive; see `JsonLines`."""
    return JsonLines(path)


class JsonLines:
    """JSON input lines read on a background thread, handed out in batches as they arrive.

    The file is opened at once (a missing file is an `InputError` before any work). `batches(size)`
    waits for one line, then adds the lines already read, up to `size`: a line typed into a pipe is
    answered at once, while a file or a fast producer fills whole batches (the reader keeps up to
    `max_pending` lines ahead). Items are (line number, parsed JSON or `_Bad`), numbered from 1.
    """

    def __init__(self, path: str, max_pending: int = 1024) -> None:
        from lmlab.common.errors import InputError

        self.name = "<stdin>" if path == "-" else path
        self.count = 0  # lines handed out so far
        if path == "-":
            self._stream, self._owned = sys.stdin.buffer, False
        else:
            try:
                self._stream, self._owned = open(path, "rb"), True
            except OSError as err:
                raise InputError(f"cannot read prediction input: {err.strerror}", self.name) from None
        self._queue: "queue.Queue[Any]" = queue.Queue(maxsize=max_pending)
        self._closed = threading.Event()
        # a daemon: a reader blocked on a terminal that never sends EOF must not keep the process alive
        self._thread = threading.Thread(target=self._read, name="lmlab-predict-input", daemon=True)
        self._thread.start()

    def batches(self, size: int) -> Iterator[List[Tuple[int, Any]]]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            batch = [self._checked(item)]
            while len(batch) < size:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _END:
                    self.count += len(batch)
                    yield batch
                    return
                batch.append(self._checked(item))
            self.count += len(batch)
            yield batch

    def close(self) -> None:
        self._closed.set()
        if self._owned:
            self._thread.join()
            self._stream.close()

    def _read(self) -> None:
        try:
            for item in _lines(self._stream):
                if not self._put(item):
                    return
        except Exception as err:  # an I/O error: the main thread raises it
            self._put(err)
            return
        self._put(_END)

    def _put(self, item: Any) -> bool:
        """Queue `item`, waiting while the queue is full; False once `close()` was called."""
        while not self._closed.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _checked(self, item: Any) -> Tuple[int, Any]:
        if isinstance(item, Exception):
            from lmlab.common.errors import InputError

            raise InputError(f"cannot read prediction input: {item}", self.name) from item
        return item


_END = object()  # the reader's last queue item


def answer_json_lines(predict_batch: Callable[[List[Any]], List[Dict[str, Any]]], lines: JsonLines,
                      args: argparse.Namespace) -> int:
    """Answer `lines` as they arrive, in batches of at most `args.batch_size`: one output line per input line,
    in order, printed and flushed at once (unless `args.silent`) and written atomically to `args.output_file`
    at the end. Bad lines get located errors; no input lines at all is an `InputError`."""
    from lmlab.common import strict_json
    from lmlab.common.errors import InputError
    from lmlab.common.file_utils import atomic_write

    outputs: List[str] = []
    errors = 0
    try:
        for chunk in lines.batches(args.batch_size):
            answers = iter(_isolated(predict_batch, [item for _, item in chunk if not isinstance(item, _Bad)]))
            for number, item in chunk:
                bad, line = (item, "") if isinstance(item, _Bad) else _encoded(next(answers), lines.name, number)
                if bad is not None:
                    errors += 1
                    line = strict_json.dumps({"error": f"{bad.kind} at {lines.name}:{number}: {bad.message}"})
                if args.output_file:
                    outputs.append(line)
                if not args.silent:
                    print(line)
            sys.stdout.flush()  # the answers of this batch go out now: a pipe's reader is waiting for them
    finally:
        lines.close()
    if not lines.count:
        raise InputError("no input lines", lines.name)
    if args.output_file:
        with atomic_write(args.output_file) as stream:
            stream.write("\n".join(outputs) + "\n")
    if errors:
        print(f"lmlab: {errors} of {lines.count} input lines had errors (see their output lines)", file=sys.stderr)
    return 0


def _encoded(answer: Union[Dict[str, Any], Exception], name: str,
             number: int) -> "Tuple[Optional[_Bad], str]":
    """(None, the output line) of a predictor's answer, or (the error, "") for an input error, a failure
    inside the model, or an answer that is not strict JSON (the last two are bugs: --debug logs them)."""
    from lmlab.common import strict_json

    try:
        if isinstance(answer, Exception):
            raise answer
        if "error" in answer:
            return _Bad(answer["error"]), ""
        line = strict_json.dumps(answer)
        line.encode("utf-8")  # raises for a lone surrogate, which stdout could not print
        return None, line
    except Exception as err:
        logger.debug("%s:%d failed", name, number, exc_info=err)
        message = "; ".join(str(err).splitlines())
        return _Bad(f"{type(err).__name__}: {message} (rerun with --debug for the traceback)", "internal error"), ""


def _isolated(predict_batch: Callable[[List[Any]], List[Dict[str, Any]]],
              items: List[Any]) -> List[Union[Dict[str, Any], Exception]]:
    """`predict_batch(items)`; if it raises, each half's answers (down to single items: the exception of an
    item that fails alone), so one line that breaks the model does not take its batch with it."""
    if not items:
        return []
    try:
        return list(predict_batch(items))
    except Exception as err:
        if len(items) == 1:
            return [err]
        middle = len(items) // 2
        return _isolated(predict_batch, items[:middle]) + _isolated(predict_batch, items[middle:])


class _Bad:
    """A line answered with an error without the predictor: not JSON, too long, or failed inside the model."""

    def __init__(self, message: str, kind: str = "input error") -> None:
        self.message = message
        self.kind = kind


def _lines(stream: Any) -> Iterator[Tuple[int, Any]]:
    """(line number, parsed JSON or _Bad) for every line; a trailing empty line is not an input."""
    from lmlab.common import strict_json

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
            yield number, strict_json.loads(text)
        except ValueError as err:  # not strict JSON: NaN, a lone surrogate, too deep, ...
            yield number, _Bad(str(err))
