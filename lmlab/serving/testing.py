"""Run an app on a real uvicorn server in a background thread, on a free loopback port.

A test helper for lmlab and for plugin authors: the requests go through real sockets, HTTP parsing,
the lifespan (micro-batcher start and stop) and streaming, which an in-process test client skips.
"""
import contextlib
import socket
import threading
import time
from typing import Any, Iterator

import uvicorn


@contextlib.contextmanager
def serve_in_thread(app: Any, start_timeout: float = 30.0) -> Iterator[str]:
    """Serve `app` while the block runs; yields its base URL ("http://127.0.0.1:PORT").

    The socket is bound before the server starts (port 0: the system picks a free port), so there is no
    window in which another process can take the port. Leaving the block shuts the server down the way
    a signal does: in-flight requests finish, then the app's lifespan ends.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the test server on port {port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=start_timeout)
        sock.close()
