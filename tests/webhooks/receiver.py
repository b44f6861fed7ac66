"""An HTTP server on 127.0.0.1, in a thread, that receives webhook events as an endpoint
would: it keeps each request and answers as the test tells it."""

import collections
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Received:
    def __init__(self, path: str, headers: dict, body: bytes):
        self.path, self.headers, self.body = path, headers, body

    @property
    def event(self) -> dict:
        return json.loads(self.body)

    def signature_valid(self, secret: str, tolerance: int = 300) -> bool:
        """The check the README tells an endpoint to make, written out again here."""
        fields = dict(part.split("=", 1) for part in self.headers["Keyship-Signature"].split(","))
        timestamp = int(fields["t"])
        expected = hmac.new(
            secret.encode(), f"{timestamp}.".encode() + self.body, hashlib.sha256
        ).hexdigest()
        return abs(time.time() - timestamp) <= tolerance and hmac.compare_digest(
            expected, fields["v1"]
        )


class Receiver:
    """`answers` are taken in turn (then `default`): a status code, or ("slow", seconds,
    status), or ("block", status) to hold the request until `release` is set."""

    def __init__(self):
        self.received: list[Received] = []
        self.answers = collections.deque()
        self.default = 200
        self.release = threading.Event()
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(Received(self.path, dict(self.headers), body))
                receiver.arrived.set()
                answer = receiver.answers.popleft() if receiver.answers else receiver.default
                if isinstance(answer, tuple) and answer[0] == "slow":
                    time.sleep(answer[1])
                    answer = answer[2]
                elif isinstance(answer, tuple) and answer[0] == "block":
                    receiver.release.wait(120)
                    answer = answer[1]
                try:
                    self.send_response(answer)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/keyship"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict]:
        return [request.event for request in self.received]
