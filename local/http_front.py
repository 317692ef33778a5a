"""An HTTP server that turns requests into API Gateway (REST) proxy events, as `sam local start-api` does."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit
Route = tuple[str, re.Pattern[str], str, str]  # method, path regex, resource, function logical id
Invoke = Callable[[str, dict[str, Any]], Any]
ControlHandler = Callable[[str, str, Any], tuple[int, Any]]


def compile_routes(functions: dict[str, list[tuple[str, str]]]) -> list[Route]:
    routes = []
    for logical_id, fn_routes in functions.items():
        for method, resource in fn_routes:
            pattern = re.sub(
                r"\\\{([^}]+)\\\}", lambda m: f"(?P<{m.group(1).replace('\\-', '_')}>[^/]+)", re.escape(resource)
            )
            routes.append((method, re.compile(f"^{pattern}$"), resource, logical_id))
    # Literal paths before templated ones, as API Gateway prefers them.
    return sorted(routes, key=lambda r: r[2].count("{"))


def proxy_event(
    method: str, raw_path: str, resource: str, params: dict[str, str], headers: dict[str, str], body: bytes
) -> dict[str, Any]:
    split = urlsplit(raw_path)
    query = parse_qs(split.query)
    text = body.decode("utf-8", errors="replace") if body else None
    return {
        "resource": resource,
        "path": split.path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": {k: v[-1] for k, v in query.items()} or None,
        "multiValueQueryStringParameters": query or None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "path": f"/v1{split.path}",
            "stage": "v1",
            "requestId": str(uuid.uuid4()),
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": "127.0.0.1", "userAgent": headers.get("User-Agent", "")},
        },
        "body": text,
        "isBase64Encoded": False,
    }


def failure(description: str, code: str) -> str:
    return json.dumps({"status": "failed", "description": description, "code": code})


def make_server(
    host: str, port: int, routes: list[Route], invoke: Invoke, control: ControlHandler
) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go in two writes: Nagle would hold the body ~40 ms

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
            pass

        def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
            data = body.encode()
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
                if key.lower() == "content-length":
                    continue
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(413, failure("the request body is too large", "payload-too-large"), {"Connection": "close"})
                self.close_connection = True
                return
            body = self.rfile.read(length) if length else b""
            path = urlsplit(self.path).path
            if path.startswith("/_local/"):
                status, answer = control(self.command, path, json.loads(body) if body else None)
                self._send(status, json.dumps(answer))
                return
            for method, pattern, resource, logical_id in routes:
                match = pattern.match(path)
                if match and method == self.command:
                    # API Gateway hands path parameters over URL-decoded.
                    params = {k.replace("_", "-"): unquote(v) for k, v in match.groupdict().items()}
                    headers = {k: v for k, v in self.headers.items()}
                    result = invoke(logical_id, proxy_event(self.command, self.path, resource, params, headers, body))
                    headers = dict(result.get("headers") or {})
                    for key, values in (result.get("multiValueHeaders") or {}).items():
                        headers[key] = ", ".join(values)
                    self._send(result["statusCode"], result.get("body") or "", headers)
                    return
            # API Gateway's gateway responses, in the contract's failure shape (template.yaml sets the same).
            if any(p.match(path) for _, p, _, _ in routes):
                self._send(405, failure(f"{self.command} is not allowed on {path}", "method-not-allowed"))
            else:
                self._send(404, failure(f"no such route: {path}", "no-such-route"))

        def __getattr__(self, name: str) -> Any:
            # Every method reaches the router, which answers 405 in the failure shape, as API Gateway would.
            if name.startswith("do_"):
                return self._handle
            raise AttributeError(name)

    return ThreadingHTTPServer((host, port), Handler)
