"""Running the emulator: in a background thread (tests, `timetrack demo`) or in the foreground
(`timetrack emulator`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Self

from aiohttp import web

from timetrack.emulator.config import EmulatorConfig
from timetrack.emulator.server import Emulator
from timetrack.errors import EmulatorError
from timetrack.hosts import is_loopback


def check_host(host: str, admin_token: str | None) -> None:
    """Refuse to serve beyond loopback without an admin token: the admin endpoints change data
    and the clock, so anyone who can reach them must prove it. Raises EmulatorError."""
    if not is_loopback(host) and not admin_token:
        raise EmulatorError(
            f"refusing to listen on {host}: beyond localhost the emulator needs an admin token "
            "(--admin-token) to protect its /_emulator/ endpoints"
        )


async def _start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        reason = os.strerror(error.errno).lower() if error.errno else str(error)
        raise EmulatorError(f"cannot listen on {host}:{port}: {reason}") from None
    server = site._server
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, int(bound)


class AppInThread:
    """An aiohttp application serving from a daemon thread of its own; port 0 picks a free
    port. Use as a context manager, or call start() and stop(). The emulator runs on it, and
    so can any small server a test needs (a proxy in front of the emulator)."""

    def __init__(self, app: Callable[[], web.Application], host: str, port: int) -> None:
        self._app = app
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The root URL clients use as their base URL."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        """Start serving; returns once the port is bound."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                runner, self.port = loop.run_until_complete(
                    _start_site(self._app(), self.host, self.port)
                )
            except BaseException as error:
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

        self._thread = threading.Thread(
            target=serve, name=f"timetrack-{type(self).__name__}", daemon=True
        )
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class EmulatorServer(AppInThread):
    """An emulator serving over HTTP from a daemon thread; port 0 picks a free port.

    Use as a context manager, or call start() and stop().
    """

    def __init__(
        self, config: EmulatorConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.emulator = Emulator(config)
        super().__init__(self.emulator.app, host, port)

    def start(self) -> Self:
        """Start serving (on loopback unless the config has an admin token)."""
        check_host(self.host, self.emulator.config.admin_token)
        return super().start()


def serve_forever(emulator: Emulator, host: str, port: int, on_ready: object = None) -> None:
    """Serve in the foreground until SIGINT (Ctrl-C) or SIGTERM, then shut down cleanly.

    Refuses (EmulatorError) a host other than loopback unless the config has an admin token."""
    check_host(host, emulator.config.admin_token)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        runner, bound = await _start_site(emulator.app(), host, port)
        try:
            if callable(on_ready):
                on_ready(bound)
            await stop.wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
