"""A TCP proxy in front of MongoDB that can go down on command: real connection faults for tests.

It counts the client's wire-protocol messages, so a test can let N through and then cut the
database off mid-request (`down_after`), or cut it off at once (`down`)."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from typing import Any


class MongoProxy:
    def __init__(self, upstream_host: str, upstream_port: int):
        self.upstream = (upstream_host, upstream_port)
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._lock = threading.Lock()
        self._down = False
        self._down_after: int | None = None
        self._conns: set[socket.socket] = set()
        self.messages = 0

    def start(self) -> None:
        threading.Thread(target=self._accept, name="mongo-proxy", daemon=True).start()

    def stop(self) -> None:
        self._server.close()
        self._cut_all()

    def configure(self, down: bool = False, down_after: int | None = None) -> dict[str, Any]:
        with self._lock:
            self._down, self._down_after = down, down_after
        if down:
            self._cut_all()
        return {"down": self._down, "down_after": self._down_after, "messages": self.messages}

    def _cut_all(self) -> None:
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
                conn.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self._down:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.update({client, upstream})
            threading.Thread(target=self._client_to_server, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _count_message(self) -> bool:
        """Count one client message; False if the database must be down for it."""
        with self._lock:
            if self._down_after is not None:
                if self._down_after <= 0:
                    self._down, self._down_after = True, None
                else:
                    self._down_after -= 1
            self.messages += 1
            return not self._down

    def _client_to_server(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while True:
                header = _read_exact(client, 16)
                (length,) = struct.unpack("<i", header[:4])
                body = _read_exact(client, length - 16)
                if not self._count_message():
                    self._cut_all()
                    return
                upstream.sendall(header + body)
        except OSError:
            pass
        finally:
            _close(client, upstream)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _close(source, sink)


def _read_exact(sock: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(remaining)
        if not chunk:
            raise OSError("connection closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.close()
