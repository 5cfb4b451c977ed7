"""`timetrack listen`: the webhook callback. It verifies each event's signature in constant
time (anything unsigned or wrong: 401, nothing written), commits each verified event to the
journal before answering 2xx, answers pings with their validation code, and lands journalled
events in small batches from a thread of its own. At start it lands what the journal holds
(events of a listener killed before it could land them)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO

import orjson
from aiohttp import web

from timetrack.destination.target import Target
from timetrack.errors import ConfigurationError, printable
from timetrack.live.journal import Journal, journal_path
from timetrack.live.lander import Lander, batch_lock
from timetrack.live.secrets import load_secrets
from timetrack.source.schema import as_key

SIGNATURE_HEADER = "X-Webhook-Signature-256"
MAX_BODY = 1024 * 1024
"""The largest event read (1 MB): an entity's payload is a few kB; a larger body gets 413."""
RELOAD_SECONDS = 1.0
"""An unknown subscription re-reads the secrets (a later `setup`) at most this often."""
HEARTBEAT_SECONDS = 5.0
IDLE_SECONDS = 0.2
"""How often the lander looks for new events when there are none."""
RETRY_SECONDS = 2.0
"""Wait after a batch failed (destination down, DuckDB held by another program)."""


@dataclass
class ListenOptions:
    """What `timetrack listen` was asked for."""

    host: str = "127.0.0.1"
    port: int = 8765
    keep_deleted: bool = False
    quiet: bool = False


class Verifier:
    """Subscription secrets, re-read when an unknown subscription signs."""

    def __init__(self, load: Callable[[], dict[int, str]] = load_secrets) -> None:
        self._load = load
        self._secrets = load()
        self._read_at = time.monotonic()

    def secret(self, subscription_id: int | None) -> list[str]:
        """The secrets to try: the subscription's, or every one when the body names none."""
        if subscription_id is not None and subscription_id in self._secrets:
            return [self._secrets[subscription_id]]
        if time.monotonic() - self._read_at >= RELOAD_SECONDS:
            self._secrets = self._load()
            self._read_at = time.monotonic()
        if subscription_id is None:
            return list(self._secrets.values())
        found = self._secrets.get(subscription_id)
        return [] if found is None else [found]

    def verify(self, body: bytes, header: str, subscription_id: int | None) -> bool:
        """Whether the header is `sha256=` and the HMAC of the body with a known secret."""
        scheme, _, given = header.partition("=")
        if scheme.strip().lower() != "sha256" or not given:
            return False
        ok = False
        for secret in self.secret(subscription_id):
            expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            ok |= hmac.compare_digest(expected.encode(), given.strip().lower().encode())
        return ok


class Listener:
    """The callback server and its lander thread."""

    def __init__(self, target: Target, options: ListenOptions, out: TextIO | None = None) -> None:
        self.target = target
        self.options = options
        self.out = out if out is not None else sys.stderr  # the one of the moment
        self.path = journal_path(target)
        self.journal = Journal(self.path)
        self.verifier = Verifier()
        self.stopping = threading.Event()
        self.received = 0
        self.duplicates = 0
        self.refused = 0
        self._journal_lock = threading.Lock()

    def say(self, line: str) -> None:
        """One line on stderr, unless quiet."""
        if not self.options.quiet:
            print(printable(line), file=self.out, flush=True)

    # --- the server -----------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application: any POST path is the callback."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.Response:
        """One delivery: verify, journal, answer."""
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            self.refused += 1
            return web.Response(status=413)
        try:
            event = orjson.loads(body)
        except orjson.JSONDecodeError:
            event = None
        sub_id = as_key(event.get("subscription_id")) if isinstance(event, dict) else None
        header = request.headers.get(SIGNATURE_HEADER, "")
        if not isinstance(event, dict) or not self.verifier.verify(body, header, sub_id):
            self.refused += 1
            return web.Response(status=401)
        if sub_id is None:
            self.refused += 1
            return web.Response(status=400)
        if event.get("payload") == "ping":
            code = event.get("validation_code")
            await self._journal_call(self.journal.validated, sub_id, str(event.get("timestamp")))
            return web.json_response({"validation_code": code})
        event_id = str(event.get("event_id") or hashlib.sha256(body).hexdigest())
        try:
            new = await self._journal_call(self.journal.append, sub_id, event_id, body)
        except Exception as error:  # the service sends it again: nothing is lost
            self.say(f"warning: cannot journal an event: {error}")
            return web.Response(status=503)
        self.received += 1
        self.duplicates += 0 if new else 1
        return web.json_response({"ok": True})

    async def _journal_call(self, call: Callable[..., Any], *args: Any) -> Any:
        def locked() -> Any:
            with self._journal_lock:
                return call(*args)

        return await asyncio.get_running_loop().run_in_executor(None, locked)

    # --- the lander -----------------------------------------------------------------------------

    def land_forever(self) -> None:
        """Land batches until stopped; a failing batch is retried (its events stay journalled)."""
        journal = Journal(self.path)
        lander = Lander(self.target, journal, keep_deleted=self.options.keep_deleted)
        beat = 0.0
        failing = False
        warned = 0
        while not self.stopping.is_set():
            if time.monotonic() - beat >= HEARTBEAT_SECONDS:
                journal.beat()
                beat = time.monotonic()
            try:
                with batch_lock(self.target) as ours:
                    taken = lander.land_once() if ours else None
            except Exception as error:  # the destination's fault, for now: try again
                if not failing:
                    self.say(f"warning: landing events failed, retrying: {_short(error)}")
                failing = True
                self.stopping.wait(RETRY_SECONDS)
                continue
            if failing:
                self.say("landing events again")
                failing = False
            if lander.set_aside > warned:
                self.say(
                    f"warning: {lander.set_aside - warned} events the destination refuses were "
                    "set aside in the journal (see `timetrack webhooks status`)"
                )
                warned = lander.set_aside
            if taken is None:  # `run` holds the destination: wait for it to end
                self.stopping.wait(IDLE_SECONDS * 5)
            elif not taken:
                self.stopping.wait(IDLE_SECONDS)
        journal.close()

    def serve(self, ready: Callable[[int], None] | None = None) -> None:
        """Serve until SIGINT or SIGTERM; the lander finishes its batch before the end."""
        lander = threading.Thread(target=self.land_forever, name="timetrack-lander", daemon=True)

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(signum, stop.set)
            runner = web.AppRunner(
                self.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0
            )
            await runner.setup()
            site = web.TCPSite(runner, self.options.host, self.options.port)
            try:
                await site.start()
            except OSError as error:
                await runner.cleanup()
                reason = os.strerror(error.errno).lower() if error.errno else str(error)
                raise ConfigurationError(
                    f"cannot listen on {self.options.host}:{self.options.port}: {reason}"
                ) from None
            sockets = getattr(site._server, "sockets", None) or []
            bound = int(sockets[0].getsockname()[1]) if sockets else self.options.port
            lander.start()
            if ready is not None:
                ready(bound)
            try:
                await stop.wait()
            finally:
                await runner.cleanup()

        try:
            with contextlib.suppress(KeyboardInterrupt):
                asyncio.run(main())
        finally:
            self.stopping.set()
            if lander.is_alive():
                lander.join(timeout=60)
            self.journal.close()


def _short(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text[:2000]


def listen(target: Target, options: ListenOptions, ready: Callable[[int], None]) -> Listener:
    """Serve the callback for a target until SIGINT or SIGTERM (SQL destinations only: the
    lander reads rows back to keep the newest)."""
    if target.kind == "filesystem":
        raise ConfigurationError(
            "listen lands into databases (duckdb, postgres, ...): filesystem files cannot be "
            "read back to keep the newest row; keep `timetrack run` for them"
        )
    listener = Listener(target, options)
    listener.serve(ready)
    return listener
