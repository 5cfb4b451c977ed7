"""listener.py in this process: the verifier's secrets and signatures, the callback over real HTTP
(answers, counts, what the journal holds), the lander loop's retries and lines with its landing
scripted, and serving until a signal; truth is the events sent and the journal read back."""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import io
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from aiohttp import web

from tests.helpers import FakeTime
from timetrack.destination.target import Target, resolve_target
from timetrack.emulator.runner import AppInThread
from timetrack.errors import ConfigurationError
from timetrack.live import listener as listener_module
from timetrack.live.journal import Journal, SubscriptionRecord, journal_path
from timetrack.live.listener import (
    MAX_BODY,
    RELOAD_SECONDS,
    Listener,
    ListenOptions,
    Verifier,
    listen,
)
from timetrack.live.secrets import store_secret
from timetrack.run.pipeline import run_lock_path

SECRET, OTHER_SECRET = "s3cret-7", "s3cret-8"
SUB, OTHER_SUB, WS = 7, 8, 4_000_001


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- the verifier ---------------------------------------------------------------------------


class Secrets:
    def __init__(self, *found: dict[int, str]) -> None:
        self.found = list(found)
        self.reads = 0

    def __call__(self) -> dict[int, str]:
        self.reads += 1
        return self.found[min(self.reads, len(self.found)) - 1]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeTime:
    fake = FakeTime()
    monkeypatch.setattr(listener_module, "time", fake)
    return fake


def test_a_known_subscription_uses_its_secret_without_reading_again(clock: FakeTime) -> None:
    load = Secrets({SUB: SECRET, OTHER_SUB: OTHER_SECRET})
    verifier = Verifier(load)
    clock.sleep(60)
    assert verifier.secret(SUB) == [SECRET] and verifier.secret(OTHER_SUB) == [OTHER_SECRET]
    assert load.reads == 1
    assert verifier.secret(None) == [SECRET, OTHER_SECRET]  # every one: the body names none


def test_an_unknown_subscription_reads_the_secrets_again_at_most_each_second(
    clock: FakeTime,
) -> None:
    assert RELOAD_SECONDS == 1.0
    load = Secrets({SUB: SECRET}, {SUB: SECRET, 9: "new"}, {9: "newer"})
    verifier = Verifier(load)
    clock.sleep(0.5)
    assert verifier.secret(9) == [] and load.reads == 1  # read half a second ago
    clock.sleep(0.5)
    assert verifier.secret(9) == ["new"] and load.reads == 2  # a later setup stored it
    clock.sleep(0.99)
    assert verifier.secret(10) == [] and load.reads == 2
    assert verifier.secret(None) == [SECRET, "new"] and load.reads == 2
    clock.sleep(0.01)
    assert verifier.secret(None) == ["newer"] and load.reads == 3


def test_a_signature_is_sha256_of_the_body_with_a_known_secret() -> None:
    verifier = Verifier(lambda: {SUB: SECRET, OTHER_SUB: OTHER_SECRET})
    body = b'{"a": 1}'
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert verifier.verify(body, f"sha256={digest}", SUB)
    assert verifier.verify(body, f" SHA256 = {digest.upper()} ", SUB)
    assert verifier.verify(body, f"sha256={digest}", None)  # tried with every secret
    assert not verifier.verify(body, f"sha256={digest}", OTHER_SUB)
    assert not verifier.verify(body + b" ", f"sha256={digest}", SUB)
    assert not verifier.verify(body, f"sha1={digest}", SUB)
    assert not verifier.verify(body, digest, SUB)
    assert not verifier.verify(body, "sha256=", SUB)
    assert not verifier.verify(body, "", SUB)
    other = hmac.new(OTHER_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert verifier.verify(body, f"sha256={other}", None)  # the last secret tried
    assert not Verifier(dict).verify(body, f"sha256={digest}", None)


def test_the_verifier_reads_the_projects_secrets_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store_secret(SUB, SECRET)
    assert Verifier().secret(SUB) == [SECRET]


# --- the callback ----------------------------------------------------------------------------


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Target:
    monkeypatch.chdir(tmp_path)
    store_secret(SUB, SECRET)
    store_secret(OTHER_SUB, OTHER_SECRET)
    found = resolve_target(
        "duckdb", "tt", duckdb_file=str(tmp_path / "db.duckdb"), pipelines_dir=str(tmp_path / "st")
    )
    journal = Journal(journal_path(found))
    journal.record_subscription(SubscriptionRecord(SUB, WS, 1, True, ["tag"], "", None, True))
    journal.close()
    return found


@pytest.fixture
def served(target: Target) -> Iterator[tuple[Listener, str, io.StringIO]]:
    out = io.StringIO()
    listener = Listener(target, ListenOptions(), out)
    with AppInThread(listener.app, "127.0.0.1", 0) as server:
        yield listener, server.base_url, out
    listener.journal.close()


def post(url: str, body: bytes, signature: str | None = None) -> requests.Response:
    headers = {} if signature is None else {"X-Webhook-Signature-256": signature}
    return requests.post(url, data=body, headers=headers, timeout=10)


def journalled(target: Target) -> list[tuple[int, str, bytes]]:
    journal = Journal(journal_path(target))
    try:
        rows = journal.db.execute("select subscription_id, event_id, body from events order by seq")
        return [(int(s), str(e), bytes(b)) for s, e, b in rows]
    finally:
        journal.close()


def test_signed_events_are_journalled_once_on_any_path(
    target: Target, served: tuple[Listener, str, io.StringIO]
) -> None:
    listener, url, out = served
    first = orjson.dumps({"event_id": 41, "subscription_id": SUB, "payload": {"id": 1}})
    second = orjson.dumps({"event_id": "e2", "subscription_id": str(OTHER_SUB), "payload": {}})
    for _ in range(2):
        answer = post(url + "/hooks", first, sign(first))
        assert answer.status_code == 200 and answer.json() == {"ok": True}
    answer = post(url + "/", second, sign(second, OTHER_SECRET))
    assert answer.status_code == 200
    assert journalled(target) == [(SUB, "41", first), (OTHER_SUB, "e2", second)]
    assert (listener.received, listener.duplicates, listener.refused) == (3, 1, 0)
    assert requests.get(url + "/hooks", timeout=10).status_code == 405  # POST only
    assert out.getvalue() == ""


def test_an_event_without_id_is_known_by_its_bodys_digest(
    target: Target, served: tuple[Listener, str, io.StringIO]
) -> None:
    _, url, _ = served
    body = orjson.dumps({"subscription_id": SUB, "payload": {"id": 1}, "event_id": None})
    assert post(url, body, sign(body)).status_code == 200
    assert journalled(target) == [(SUB, hashlib.sha256(body).hexdigest(), body)]


def test_unsigned_forged_and_unreadable_bodies_are_refused_and_not_journalled(
    target: Target, served: tuple[Listener, str, io.StringIO]
) -> None:
    listener, url, _ = served
    good = orjson.dumps({"event_id": 1, "subscription_id": SUB, "payload": {}})
    assert post(url, good).status_code == 401
    assert post(url, good, sign(good, OTHER_SECRET)).status_code == 401  # another's secret
    assert post(url, good, sign(good + b" ")).status_code == 401
    stranger = orjson.dumps({"event_id": 1, "subscription_id": 99, "payload": {}})
    assert post(url, stranger, sign(stranger)).status_code == 401
    for body in (b"not json", b"[1, 2]", b'"text"'):
        assert post(url, body, sign(body)).status_code == 401
    nameless = orjson.dumps({"event_id": 1, "payload": {}})  # no subscription: 400, if signed
    assert post(url, nameless, sign(nameless)).status_code == 400
    assert post(url, nameless, sign(nameless, "unknown")).status_code == 401
    assert journalled(target) == []
    assert (listener.received, listener.duplicates, listener.refused) == (0, 0, 9)


def test_the_largest_body_read_is_a_megabyte(
    served: tuple[Listener, str, io.StringIO],
) -> None:
    listener, url, _ = served
    assert MAX_BODY == 1024 * 1024
    assert post(url, b" " * MAX_BODY).status_code == 401  # read, and not signed
    assert post(url, b" " * (MAX_BODY + 1)).status_code == 413
    assert listener.refused == 2


def test_a_ping_is_answered_with_its_code_and_validates_the_subscription(
    target: Target, served: tuple[Listener, str, io.StringIO]
) -> None:
    listener, url, _ = served
    ping = {"subscription_id": SUB, "payload": "ping", "validation_code": "abc", "timestamp": "t1"}
    body = orjson.dumps(ping)
    answer = post(url, body, sign(body))
    assert answer.status_code == 200 and answer.json() == {"validation_code": "abc"}
    again = orjson.dumps({**ping, "timestamp": "t2"})
    assert post(url, again, sign(again)).json() == {"validation_code": "abc"}
    journal = Journal(journal_path(target))
    assert [s.validated_at for s in journal.subscriptions()] == ["t1"]
    journal.close()
    assert journalled(target) == [] and listener.received == 0


def test_an_event_the_journal_cannot_take_is_answered_503_and_said(
    target: Target, served: tuple[Listener, str, io.StringIO]
) -> None:
    listener, url, out = served
    listener.journal.db.close()
    body = orjson.dumps({"event_id": 1, "subscription_id": SUB, "payload": {}})
    assert post(url, body, sign(body)).status_code == 503  # the service sends it again
    assert out.getvalue() == (
        "warning: cannot journal an event: Cannot operate on a closed database.\n"
    )
    assert listener.received == 0
    listener.journal = Journal(listener.path)


def test_say_prints_one_printable_line_unless_quiet(target: Target) -> None:
    out = io.StringIO()
    loud = Listener(target, ListenOptions(), out)
    loud.say("a\x1b[31mb")
    assert out.getvalue() == "a[31mb\n"  # the escape dropped
    quiet = Listener(target, ListenOptions(quiet=True), out)
    quiet.say("nothing")
    assert out.getvalue() == "a[31mb\n"  # nothing more
    loud.journal.close()
    quiet.journal.close()


def test_each_line_said_is_flushed_at_once(target: Target, tmp_path: Path) -> None:
    with open(tmp_path / "log.txt", "w") as out:  # buffered, as a redirected stderr is
        listener = Listener(target, ListenOptions(), out)
        listener.say("landing events again")
        assert (tmp_path / "log.txt").read_text() == "landing events again\n"
        listener.journal.close()


def test_say_goes_to_stderr_by_default(target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    listener = Listener(target, ListenOptions())
    listener.say("hello")
    listener.journal.close()
    assert capsys.readouterr() == ("", "hello\n")


def test_listen_options_default_to_the_loopback_port_8765() -> None:
    assert ListenOptions() == ListenOptions("127.0.0.1", 8765, False, False)


# --- the lander loop -------------------------------------------------------------------------


class Waits(threading.Event):
    """The listener's stop event: notes each wait and returns at once."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        assert timeout is not None
        self.waits.append(timeout)
        return self.is_set()


class Script:
    """What each land_once does, in turn: a number taken, or an error raised; a set-aside
    count; the listener is stopped after the last."""

    def __init__(self, listener: Listener, steps: list[tuple[int | Exception, int]]) -> None:
        self.listener = listener
        self.steps = steps
        self.made: list[ScriptedLander] = []

    def __call__(self, target: Target, journal: Journal, *, keep_deleted: bool) -> Any:
        lander = ScriptedLander(self, target, journal, keep_deleted)
        self.made.append(lander)
        return lander


class ScriptedLander:
    def __init__(self, script: Script, target: Target, journal: Journal, keep: bool) -> None:
        self.script = script
        self.target = target
        self.journal = journal
        self.keep_deleted = keep
        self.set_aside = 0
        self.calls = 0

    def land_once(self) -> int:
        step, self.set_aside = self.script.steps[self.calls]
        self.calls += 1
        if self.calls == len(self.script.steps):
            self.script.listener.stopping.set()
        if isinstance(step, Exception):
            raise step
        return step


class IdleLander:
    """A lander with nothing to land, for tests of the listener's serving alone."""

    set_aside = 0

    def __init__(self, target: Target, journal: Journal, *, keep_deleted: bool) -> None:
        pass

    def land_once(self) -> int:
        return 0


def run_loop(
    target: Target, monkeypatch: pytest.MonkeyPatch, steps: list[tuple[int | Exception, int]]
) -> tuple[Listener, Script, Waits, io.StringIO]:
    out = io.StringIO()
    listener = Listener(target, ListenOptions(keep_deleted=True), out)
    script = Script(listener, steps)
    monkeypatch.setattr(listener_module, "Lander", script)
    waits = Waits()
    listener.stopping = waits
    listener.land_forever()
    listener.journal.close()
    return listener, script, waits, out


def test_the_loop_retries_a_failing_batch_and_says_so_once(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = RuntimeError("the destination\n  is down")
    steps: list[tuple[int | Exception, int]] = [
        (down, 0),
        (down, 0),
        (3, 0),
        (0, 0),
        (down, 0),
        (1, 0),
        (RuntimeError("x" * 2100), 0),
        (0, 0),
    ]
    _, script, waits, out = run_loop(target, monkeypatch, steps)
    assert out.getvalue().splitlines() == [
        "warning: landing events failed, retrying: the destination is down",
        "landing events again",
        "warning: landing events failed, retrying: the destination is down",
        "landing events again",
        "warning: landing events failed, retrying: " + "x" * 2000,  # cut at 2,000
        "landing events again",
    ]
    # after a failure RETRY_SECONDS, when idle IDLE_SECONDS, none after a batch taken
    assert waits.waits == [2.0, 2.0, 0.2, 2.0, 2.0, 0.2]
    [lander] = script.made
    assert lander.keep_deleted is True and lander.target is target
    assert lander.calls == len(steps)
    with pytest.raises(Exception, match="closed"):
        lander.journal.backlog()  # its own connection, closed at the end
    assert lander.journal.path == journal_path(target)


def test_the_loop_says_how_many_events_were_set_aside_each_time_more_are(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[tuple[int | Exception, int]] = [(2, 0), (2, 2), (1, 2), (1, 3)]
    _, _, waits, out = run_loop(target, monkeypatch, steps)
    tail = "the destination refuses were set aside in the journal (see `timetrack webhooks status`)"
    assert out.getvalue().splitlines() == [f"warning: 2 events {tail}", f"warning: 1 events {tail}"]
    assert waits.waits == []


def test_the_loop_beats_and_waits_while_a_run_holds_the_destination(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = run_lock_path(target)
    lock.parent.mkdir(parents=True, exist_ok=True)
    before = time.time()
    out = io.StringIO()
    listener = Listener(target, ListenOptions(), out)
    script = Script(listener, [(5, 0)])
    monkeypatch.setattr(listener_module, "Lander", script)

    class Twice(Waits):
        def wait(self, timeout: float | None = None) -> bool:
            if len(self.waits) == 1:
                self.set()
            return super().wait(timeout)

    waits = Twice()
    listener.stopping = waits
    with open(lock, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as `timetrack run` does
        listener.land_forever()
    listener.journal.close()
    assert script.made[0].calls == 0  # never asked to land while the run held it
    assert waits.waits == [1.0, 1.0]  # IDLE_SECONDS * 5
    journal = Journal(journal_path(target))
    beat = journal.heartbeat()
    journal.close()
    assert beat is not None and before <= beat <= time.time()


def test_the_loop_beats_every_five_seconds(
    target: Target, monkeypatch: pytest.MonkeyPatch, clock: FakeTime
) -> None:
    beats: list[float] = []
    monkeypatch.setattr(Journal, "beat", lambda self: beats.append(clock.now))

    class Ticking(Waits):
        def wait(self, timeout: float | None = None) -> bool:
            clock.sleep(2.5)
            return super().wait(timeout)

    out = io.StringIO()
    listener = Listener(target, ListenOptions(), out)
    monkeypatch.setattr(listener_module, "Lander", Script(listener, [(0, 0)] * 8))
    listener.stopping = Ticking()
    listener.land_forever()
    listener.journal.close()
    assert beats == [1000.0, 1005.0, 1010.0, 1015.0]  # at 1000, then each time 5 s have passed


# --- serving ---------------------------------------------------------------------------------


def test_listen_serves_until_sigterm_and_journals_what_came(
    target: Target, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    body = orjson.dumps({"event_id": 1, "subscription_id": SUB, "payload": {}})
    answers: list[int] = []
    ports: list[int] = []
    landers: list[Any] = []
    threads: list[threading.Thread] = []

    class Idle:
        def __init__(self, target: Target, journal: Journal, *, keep_deleted: bool) -> None:
            landers.append(self)
            self.set_aside = 0

        def land_once(self) -> int:
            return 0

    monkeypatch.setattr(listener_module, "Lander", Idle)

    def ready(port: int) -> None:
        ports.append(port)
        threads.extend(t for t in threading.enumerate() if t.name == "timetrack-lander")

        def client() -> None:
            answers.append(post(f"http://127.0.0.1:{port}/x", body, sign(body)).status_code)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=client).start()

    with caplog.at_level(logging.DEBUG):
        listener = listen(target, ListenOptions(port=0, quiet=True), ready)
    assert answers == [200] and ports[0] > 0 and len(landers) == 1
    # its own daemon thread, named: a landing that hangs past the join does not keep it alive
    assert [t.daemon for t in threads] == [True] and not threads[0].is_alive()
    assert not [r for r in caplog.records if r.name == "aiohttp.access"]  # no access log
    assert listener.stopping.is_set()
    assert journalled(target) == [(SUB, "1", body)]
    with pytest.raises(Exception, match="closed"):
        listener.journal.backlog()


def test_a_port_taken_is_a_configuration_error(target: Target) -> None:
    with AppInThread(lambda: Listener(target, ListenOptions()).app(), "127.0.0.1", 0) as taken:
        listener = Listener(target, ListenOptions(port=taken.port, quiet=True))
        with pytest.raises(ConfigurationError) as caught:
            listener.serve()
    assert str(caught.value) == f"cannot listen on 127.0.0.1:{taken.port}: address already in use"
    assert caught.value.__suppress_context__


def test_serving_ends_soon_after_sigterm_with_a_delivery_half_sent(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listener_module, "Lander", IdleLander)
    held: list[socket.socket] = []

    def ready(port: int) -> None:
        def client() -> None:
            stuck = socket.create_connection(("127.0.0.1", port))
            stuck.sendall(b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            held.append(stuck)
            time.sleep(0.2)  # the request is being read when the signal comes
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=client).start()

    listener = Listener(target, ListenOptions(port=0, quiet=True))
    started = time.monotonic()
    try:
        listener.serve(ready)
    finally:
        for stuck in held:
            stuck.close()
    # a second for the delivery in flight (it is sent again), not aiohttp's default minute
    assert time.monotonic() - started < 10


def test_the_listener_binds_the_address_it_is_given(
    target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listener_module, "Lander", IdleLander)
    bound: list[int] = []

    def ready(port: int) -> None:
        bound.append(port)
        os.kill(os.getpid(), signal.SIGTERM)

    # 127.0.0.1's port taken, 127.0.0.2's free: only an address bound to all would clash
    with AppInThread(lambda: web.Application(), "127.0.0.1", 0) as taken:
        listener = Listener(target, ListenOptions(host="127.0.0.2", port=taken.port, quiet=True))
        listener.serve(ready)
    assert bound == [taken.port]


def test_listen_refuses_a_filesystem_destination(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DESTINATION__FILESYSTEM__BUCKET_URL", str(tmp_path / "lake"))
    files = resolve_target("filesystem", "t", pipelines_dir=str(tmp_path / "st"))
    with pytest.raises(ConfigurationError) as caught:
        listen(files, ListenOptions(), lambda port: None)
    assert str(caught.value) == (
        "listen lands into databases (duckdb, postgres, ...): filesystem files cannot be read "
        "back to keep the newest row; keep `timetrack run` for them"
    )
    assert not journal_path(files).exists()
