"""The HTTP part shared by the fake providers: a threaded server on 127.0.0.1 handing each
request to ``fake.handle(request)`` and writing its ``(status, body)`` or ``(status, body,
headers)`` answer (body as JSON, or a str sent as is, for garbage on demand)."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import urlsplit


@dataclass(frozen=True)
class FakeRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


class Fake(Protocol):
    def handle(self, request: FakeRequest) -> tuple[Any, ...]: ...

    def delay(self) -> float:
        """Seconds to wait after handling a request and before answering it."""
        ...


class _Server(ThreadingHTTPServer):
    # socketserver's backlog of 5 resets connections when a worker's 16 threads connect at once.
    request_queue_size = 128


def serve(fake: Fake, port: int = 0, *, keep_alive: bool = False) -> ThreadingHTTPServer:
    """Start ``fake`` on 127.0.0.1 in a daemon thread; ``server.server_address`` has the port.
    With ``keep_alive`` it speaks HTTP/1.1 and keeps connections open, as real providers do
    (the benchmark's fake); otherwise HTTP/1.0, a connection per request."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

        def _handle(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = FakeRequest(
                self.command, url.path, url.query, dict(self.headers), self.rfile.read(length)
            )
            status, body, *extra = fake.handle(request)
            headers = extra[0] if extra else {}
            time.sleep(fake.delay())
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting: what a slow answer is for

        do_GET = do_POST = do_PUT = _handle

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests read what the fake recorded instead

    server = _Server(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@contextlib.contextmanager
def running(fake: Fake) -> Iterator[str]:
    """``fake`` served for the duration of the block; yields its base URL."""
    server = serve(fake)
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def main(fake: Fake, default_port: int, banner: str) -> None:
    """Serve ``fake`` from the command line until interrupted."""
    import sys

    server = serve(fake, int(sys.argv[1]) if len(sys.argv) > 1 else default_port)
    print(f"{banner} on http://127.0.0.1:{server.server_address[1]}", flush=True)
    threading.Event().wait()
