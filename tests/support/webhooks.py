"""A real receiving HTTP server for the notifier's tests: it answers 503 to the first `failures`
requests of each event at each path, then 200 (a robot's path: `{"errcode":0}`), and records what it
accepted and whether a JSON delivery's signature was right."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from connectors.notify import formats


class Receiver(ThreadingHTTPServer):
    def __init__(self, failures: int = 2, secret: str = "whsec-test"):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.failures, self.secret = failures, secret
        self.lock = threading.Lock()
        self.seen: dict[tuple[str, str], int] = {}  # (path, key) -> requests
        self.accepted: list[tuple[str, str, bool, bytes]] = []  # (path, key, signature valid, body)
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()

    def accepted_json(self) -> list[dict]:
        """The JSON deliveries accepted, parsed."""
        with self.lock:
            return [json.loads(body) for path, _, _, body in self.accepted if path.startswith("/json")]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        server: Receiver = self.server  # type: ignore[assignment]
        if self.path.startswith("/json"):
            key = self.headers["X-Hub-Event-Id"]
            valid = self.headers["X-Hub-Signature-256"] == formats.sign_json(
                server.secret, int(self.headers["X-Hub-Timestamp"]), body)
        else:  # a robot's message names the order or SKU, not the event id: key it by its content
            key, valid = json.loads(body)["markdown"]["content"], True
        with server.lock:
            tries = server.seen[(self.path, key)] = server.seen.get((self.path, key), 0) + 1
            ok = tries > server.failures
            if ok:
                server.accepted.append((self.path, key, valid, body))
        answer = (b'{"errcode":0,"errmsg":"ok"}' if self.path.startswith("/wecom") else b"ok") if ok else b"busy"
        self.send_response(200 if ok else 503)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):
        pass
