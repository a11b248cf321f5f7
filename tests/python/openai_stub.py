"""A local OpenAI-compatible chat-completions server for the `chat` agent's
tests (stdlib only, 127.0.0.1, port 0).

`POST /v1/chat/completions` checks `Authorization: Bearer <api_key>` (401 with
OpenAI's error shape otherwise) and answers a completion whose content is
``You said: <last user message>``. The last user message also steers it, so
each request says what it wants and tests never share mutable state:

* ``status:NNN`` answers HTTP NNN with ``{"error": {"message": "stub error NNN"}}``
* ``slow:S``     answers after S seconds (at most 5)
* ``not-json``   answers 200 with an HTML body
* ``no-choices`` answers 200 with a JSON object that is not a completion

Every request is recorded (`requests`): path, headers (lower-case), JSON body.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class SeenRequest:
    path: str
    headers: dict[str, str]
    body: dict


@dataclass
class OpenAIStub:
    api_key: str | None
    server: ThreadingHTTPServer | None = None
    requests: list[SeenRequest] = field(default_factory=list)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_openai_stub(api_key: str | None) -> OpenAIStub:
    """Starts the stub; `api_key=None` accepts requests without a key."""
    stub = OpenAIStub(api_key)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # noqa: A002
            pass

        def _send(self, status: int, payload) -> None:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if not isinstance(payload, bytes) else "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {"unparsed": raw.decode(errors="replace")}
            headers = {k.lower(): v for k, v in self.headers.items()}
            stub.requests.append(SeenRequest(self.path, headers, body))
            if self.path != "/v1/chat/completions":
                return self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            if stub.api_key is not None and headers.get("authorization") != f"Bearer {stub.api_key}":
                return self._send(401, {"error": {"message": "Incorrect API key provided.", "type": "invalid_request_error", "code": "invalid_api_key"}})
            messages = body.get("messages") or []
            prompt = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
            if prompt.startswith("status:"):
                status = int(prompt.split(":", 1)[1])
                return self._send(status, {"error": {"message": f"stub error {status}", "type": "stub"}})
            if prompt.startswith("slow:"):
                time.sleep(min(float(prompt.split(":", 1)[1]), 5.0))
            if prompt == "not-json":
                return self._send(200, b"<html>surprise</html>")
            if prompt == "no-choices":
                return self._send(200, {"object": "chat.completion", "choices": []})
            self._send(200, {
                "id": "chatcmpl-stub",
                "object": "chat.completion",
                "model": body.get("model", ""),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": f"You said: {prompt}"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
            })

    stub.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stub.server.daemon_threads = True
    threading.Thread(target=stub.server.serve_forever, daemon=True).start()
    return stub
