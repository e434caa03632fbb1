"""moto_server, handling one request at a time: the local AWS for `make dev` and the tests.

Why: moto's own server is threaded, and moto is not atomic across threads. Its TransactWriteItems
applies the items one by one and rolls a cancelled transaction back by restoring table copies,
so racing transactions see and undo each other's half-written state: a cancelled transaction's
ADD left applied, another's lost (tests/it/concurrency.rs fails against moto_server, passes here).
DynamoDB's transactions are serializable, so here every request runs under one lock. Connections
are still accepted and read concurrently; only moto's handling of requests is serial.

Same flags as moto_server: -H/--host (default 127.0.0.1), -p/--port (default $MOTO_PORT or 5000).
Run it with the Python of the venv that has moto[server] (scripts/bootstrap.sh: .venv/bin/python).
"""

import argparse
import io
import os
import signal
import sys
import threading

from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


class Serial:
    """WSGI middleware: one request at a time through `app`, response included."""

    def __init__(self, app):
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        # Read the request body before taking the lock, so a slow sender only holds its own thread.
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > 0:
            environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(length))
        with self.lock:
            result = self.app(environ, start_response)
            try:
                # moto builds its responses in memory; consuming them here keeps any lazy part
                # of the handling under the lock too.
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=int(os.environ.get("MOTO_PORT", 5000)))
    args = parser.parse_args(argv)
    # As moto_server does: moto builds some URLs (e.g. SQS queue URLs) from MOTO_PORT.
    os.environ.setdefault("MOTO_PORT", str(args.port))
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: sys.exit(0))

    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # as moto_server: moto's error responses carry their details
    run_simple(args.host, args.port, Serial(app), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
