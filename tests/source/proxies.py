"""Hostile middlemen for tests: an HTTP proxy that can rewrite or break any answer of the
emulator, and a TCP proxy in front of PostgreSQL that can be killed mid-load."""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any, Literal

import orjson
import requests
from aiohttp import web

from timetrack.emulator.runner import AppInThread

Mode = Literal["whole", "reset", "short", "trickle", "trickle-chunked"]
"""How a reply is written: whole; cut mid-body by a TCP reset; closed before its
Content-Length; or one byte at a time (with a Content-Length, or chunked)."""

_HOP_BY_HOP = frozenset(
    {"content-length", "transfer-encoding", "connection", "keep-alive", "content-encoding"}
)


@dataclass
class Seen:
    """A request as the proxy received it; a mutation may forward a changed copy."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None

    def with_query(self, **changes: Any) -> Seen:
        return replace(self, query={**self.query, **{k: str(v) for k, v in changes.items()}})

    def with_json(self, payload: Any) -> Seen:
        return replace(self, body=orjson.dumps(payload))


@dataclass
class Reply:
    """An answer to send back, as it came from the emulator or as a mutation made it."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    mode: Mode = "whole"
    trickle_seconds: float = 1.0

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else None

    def with_json(self, payload: Any) -> Reply:
        return replace(self, body=orjson.dumps(payload))


Forward = Callable[[Seen], Reply]
Mutation = Callable[[Seen, Forward], "Reply | None"]
"""Given a request and a way to forward it, a crafted reply, or None to forward it as is.
Calls are serialized: a mutation may keep counters without a lock."""


def json_reply(payload: Any, status: int = 200, **headers: str) -> Reply:
    """A JSON answer made up by a test."""
    return Reply(status, orjson.dumps(payload), {"Content-Type": "application/json", **headers})


class HoldReport:
    """A mutation that holds the first report search, and every one after it, until `release`
    is set: a run stands still mid-history for as long as a test needs (`reached` says it got
    there)."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.release = threading.Event()

    def __call__(self, seen: Seen, forward: Forward) -> Reply | None:
        if seen.path.endswith("/search/time_entries") and not self.release.is_set():
            self.reached.set()
            assert self.release.wait(timeout=120), "the test never let the report go"
        return None


class HttpProxy(AppInThread):
    """A reverse proxy on a free port of 127.0.0.1, in front of `target` (the emulator's
    base URL), that passes every request through `mutation` (None: forward as is)."""

    def __init__(self, target: str, mutation: Mutation | None = None) -> None:
        super().__init__(self._app, "127.0.0.1", 0)
        self.target = target.rstrip("/")
        self.mutation = mutation
        self.seen: list[Seen] = []
        self._lock = threading.Lock()

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._serve)
        return app

    def forward(self, seen: Seen) -> Reply:
        """Send a request on to the target as it is; the answer as a Reply."""
        headers = {k: v for k, v in seen.headers.items() if k.lower() not in (*_HOP_BY_HOP, "host")}
        headers["Accept-Encoding"] = "identity"
        with requests.Session() as session:
            response = session.request(
                seen.method,
                self.target + seen.path,
                params=seen.query,
                data=seen.body or None,
                headers=headers,
                timeout=120,
            )
            kept = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP}
            return Reply(response.status_code, response.content, kept)

    def _handle(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
            reply = self.mutation(seen, self.forward) if self.mutation else None
        return reply if reply is not None else self.forward(seen)

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        seen = Seen(
            request.method,
            request.path,
            dict(request.query),
            dict(request.headers),
            await request.read(),
        )
        loop = asyncio.get_running_loop()
        reply = await loop.run_in_executor(None, self._handle, seen)
        if reply.mode == "whole":
            return web.Response(status=reply.status, body=reply.body, headers=reply.headers)
        response = web.StreamResponse(status=reply.status, headers=reply.headers)
        transport = request.transport
        assert transport is not None
        if reply.mode == "trickle-chunked":
            response.enable_chunked_encoding()
        elif reply.mode == "short":
            response.content_length = len(reply.body) + 100
        else:
            response.content_length = len(reply.body)
        await response.prepare(request)
        if reply.mode in ("trickle", "trickle-chunked"):
            try:
                for i in range(len(reply.body)):
                    if transport.is_closing():
                        break
                    await response.write(reply.body[i : i + 1])
                    await asyncio.sleep(reply.trickle_seconds)
                await response.write_eof()
            except (ConnectionError, RuntimeError):
                pass
            return response
        if reply.mode == "reset":
            await response.write(reply.body[: max(1, len(reply.body) // 2)])
        else:  # short: the whole body, then the connection closes before Content-Length
            await response.write(reply.body)
        await asyncio.sleep(0.05)  # let what was written leave before the cut
        sock = transport.get_extra_info("socket")
        if reply.mode == "reset" and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        else:
            transport.close()
        raise asyncio.CancelledError


class TcpProxy:
    """A TCP forwarder on a free port of 127.0.0.1 in front of host:port. `kill()` resets every
    connection and stops listening, as a dead network path would; with `kill_after_bytes` it
    kills itself once that many bytes went from clients to the server (before forwarding them).
    With `lose_commit_answer`, it waits past that point for a PostgreSQL `COMMIT`, forwards it,
    and dies before the server's answer gets back: the transaction landed, the client cannot
    know."""

    def __init__(
        self,
        host: str,
        port: int,
        kill_after_bytes: int | None = None,
        lose_commit_answer: bool = False,
    ) -> None:
        self.target = (host, port)
        self.kill_after_bytes = kill_after_bytes
        self.lose_commit_answer = lose_commit_answer
        self.bytes_up = 0
        self.killed = threading.Event()
        self.killed_at: float | None = None
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def kill(self) -> None:
        with self._lock:
            if not self.killed.is_set():
                self.killed_at = time.monotonic()
                self.killed.set()

    def stop(self) -> None:
        self.kill()
        for thread in list(self._threads):
            thread.join(timeout=5)

    def _accept(self) -> None:
        try:
            while not self.killed.is_set():
                try:
                    client, _ = self._listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    break
                thread = threading.Thread(target=self._pump, args=(client,), daemon=True)
                thread.start()
                self._threads.append(thread)
        finally:
            self._listener.close()

    def _pump(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()
            return
        peers = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as selector:
            for sock in peers:
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ)
            try:
                while not self.killed.is_set():
                    for key, _ in selector.select(0.05):
                        sock = key.fileobj
                        assert isinstance(sock, socket.socket)
                        data = sock.recv(65536)
                        if not data:
                            return
                        if sock is client:
                            with self._lock:
                                self.bytes_up += len(data)
                                over = (
                                    self.kill_after_bytes is not None
                                    and self.bytes_up >= self.kill_after_bytes
                                )
                            if over and not self.lose_commit_answer:
                                self.kill()
                                return
                            if over and b"COMMIT\x00" in data:
                                upstream.sendall(data)
                                time.sleep(0.5)  # the server commits; its answer is lost
                                self.kill()
                                return
                        peers[sock].setblocking(True)
                        peers[sock].sendall(data)
                        peers[sock].setblocking(False)
            except OSError:
                return
            finally:
                for sock in peers:
                    with contextlib.suppress(OSError):
                        if self.killed.is_set():  # a reset, not a goodbye
                            sock.setsockopt(
                                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                            )
                    sock.close()

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
