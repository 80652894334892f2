"""`lmlab serve ARCHIVE`: the model behind an HTTP API and an autocomplete page (see `lmlab.serving.app`)."""
import argparse
import contextlib
import logging
import signal
import socket
import sys
from types import FrameType
from typing import TYPE_CHECKING, Iterator, Optional

from lmlab.commands.subcommand import Subcommand

if TYPE_CHECKING:
    from lmlab.serving.app import ServerSettings

logger = logging.getLogger(__name__)


@Subcommand.register("serve")
class Serve(Subcommand):
    """Serve a model over HTTP: /predict, /predict_batch, /generate (streamed), /metrics and a page at /."""

    def add_subparser(self, subparsers, parents):
        parser = subparsers.add_parser("serve", parents=parents, help=self.__doc__.splitlines()[0],
                                       description=self.__doc__)
        parser.add_argument("archive", help="model.tar.gz (path or URL)")
        parser.add_argument("--host", default="127.0.0.1",
                            help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 for all)")
        parser.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
        parser.add_argument("--predictor", help="predictor name (default: the model's)")
        parser.add_argument("--cuda-device", type=int, default=-1, help="-1 for CPU (default), k for GPU k")
        parser.add_argument("-o", "--overrides", default="", help="JSON/Jsonnet merged into the archived config")
        parser.add_argument("--max-batch-size", type=int, default=32,
                            help="most concurrent requests merged into one model call (default 32; 1: no batching)")
        parser.add_argument("--max-wait-ms", type=float, default=5.0,
                            help="longest a request waits for others to join its batch (default 5)")
        parser.add_argument("--max-body-bytes", type=int, default=1_000_000,
                            help="largest request body accepted (default 1000000; 413 above)")
        parser.add_argument("--max-items-per-request", type=int, default=256,
                            help="most items in one /predict_batch (default 256; 413 above)")
        parser.add_argument("--max-generated-tokens", type=int, default=4096,
                            help="most tokens one request may generate, generate.max_tokens summed over its items "
                                 "(default 4096; 422 above)")
        parser.add_argument("--access-log", action="store_true", help="log one line per request")
        return parser

    def run(self, args: argparse.Namespace) -> int:
        import uvicorn

        from lmlab.commands.list import import_builtin_components
        from lmlab.models.archival import load_archive
        from lmlab.predictors.predictor import Predictor
        from lmlab.serving.app import ServerSettings, create_app

        settings = ServerSettings(args.max_batch_size, args.max_wait_ms, args.max_body_bytes,
                                  args.max_items_per_request, args.max_generated_tokens)
        check_settings(settings)
        import_builtin_components()
        with listen(args.host, args.port) as sock:  # before loading the model: a busy port fails fast
            predictor = Predictor.from_archive(load_archive(args.archive, args.overrides, args.cuda_device),
                                               args.predictor)
            app = create_app(predictor, settings, str(args.archive))
            host, port = sock.getsockname()[:2]
            server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=args.access_log))
            logging.getLogger("uvicorn").setLevel(logging.INFO)
            logger.info("serving %s at http://%s:%d/ (API docs at /docs); SIGTERM or Ctrl-C stops after the "
                        "requests in flight", args.archive, host, port)
            with _graceful_exit():
                server.run(sockets=[sock])
        return 0


def check_settings(settings: "ServerSettings") -> None:
    from lmlab.common.errors import ConfigurationError

    if settings.max_batch_size < 1:
        raise ConfigurationError(f"--max-batch-size must be positive, found {settings.max_batch_size}")
    if settings.max_wait_ms < 0:
        raise ConfigurationError(f"--max-wait-ms must not be negative, found {settings.max_wait_ms}")
    if settings.max_body_bytes < 1:
        raise ConfigurationError(f"--max-body-bytes must be positive, found {settings.max_body_bytes}")
    if settings.max_items_per_request < 1:
        raise ConfigurationError(f"--max-items-per-request must be positive, found {settings.max_items_per_request}")
    if settings.max_generated_tokens < 1:
        raise ConfigurationError(f"--max-generated-tokens must be positive, found {settings.max_generated_tokens}")


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to (host, port), or an `InputError` saying why not (port taken, unknown address)."""
    from lmlab.common.errors import InputError

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # from now on connections wait in the backlog until the server accepts them
    except (OSError, OverflowError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        raise InputError(f"cannot listen on {host}:{port}: {reason}") from None
    return sock


@contextlib.contextmanager
def _graceful_exit() -> Iterator[None]:
    """uvicorn stops gracefully on SIGTERM/SIGINT and then re-raises the signal for the handler it found.
    The handlers installed here receive that echo, so a requested stop exits 0 instead of dying of it."""
    previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _stopped(signum: int, frame: Optional[FrameType]) -> None:
    print(f"lmlab: stopped by {signal.Signals(signum).name} after finishing the requests in flight", file=sys.stderr)
