"""A local HTTP receiver on 127.0.0.1 standing in for every webhook's endpoint.

Each webhook posts to its own path (`url(name)`); the receiver keeps every request (headers and
body) by path, answers 200 unless told otherwise (`answer`), and runs in a thread that stops
when the `with` block ends, an interrupt during start-up included.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from local_pipeline.engines import interrupts_deferred

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes


class WebhookReceiver:
    """As a context manager: listening on a free loopback port inside the block, stopped after it."""

    def __init__(self):
        self._lock = threading.Lock()
        self._received: dict[str, list[Received]] = defaultdict(list)
        self._answers: dict[str, list[int]] = defaultdict(list)
        self._delays: dict[str, float] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "started in the with block"
        return self._server.server_address[1]

    def url(self, name: str) -> str:
        """The endpoint of the webhook `name`."""
        return f"http://{LOOPBACK}:{self.port}/{name}"

    def received(self, name: str) -> list[Received]:
        with self._lock:
            return list(self._received[name])

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {name: len(requests) for name, requests in self._received.items()}

    def answer(self, name: str, statuses: Iterable[int] = (), *, delay: float = 0.0) -> None:
        """Answer the next requests to `name` with these statuses (then 200), each after `delay` seconds."""
        with self._lock:
            self._answers[name] = list(statuses)
            self._delays[name] = delay

    def _record(self, name: str, received: Received) -> tuple[int, float]:
        with self._lock:
            self._received[name].append(received)
            answers = self._answers[name]
            return (answers.pop(0) if answers else 200), self._delays.get(name, 0.0)

    def __enter__(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status, delay = receiver._record(self.path.lstrip("/"), Received(dict(self.headers), body))
                if delay:
                    threading.Event().wait(delay)  # a slow endpoint, for a client's timeout
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args):
                pass  # one line per request would drown the demo's output

        with interrupts_deferred():  # started and recorded, or neither
            self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
            self._server.daemon_threads = True
            self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        with interrupts_deferred():
            if self._server is not None:
                self._server.shutdown()
                self._server.server_close()
                self._server = None
            if self._thread is not None:
                self._thread.join()
                self._thread = None
