"""The watchdog that ends an attempt at its deadline (source/client.py): the pools tell the
attempt its connection, and the socket under a stalled read is shut, through its descriptor
when the response let go of it. On socket pairs: what a reader blocked on them would see.
test_gateway.py and test_hostile.py stall real servers end to end."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from timetrack.source import client as client_module
from timetrack.source.client import (
    _Attempt,
    _cut_off,
    _expire,
    _shut_descriptor,
    _WatchedAdapter,
    _WatchedHTTPPool,
    _WatchedHTTPSPool,
)


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.settimeout(5)
    theirs.settimeout(5)
    yield ours, theirs
    ours.close()
    theirs.close()


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_socket_is_shut_through_a_duplicate_of_its_descriptor(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    before = _open_descriptors()
    _shut_descriptor(ours.fileno())
    assert _open_descriptors() == before, "the duplicate is closed again"
    assert ours.recv(1) == b"", "a read on the original ends at once"
    assert theirs.recv(1) == b"", "the other end sees the connection end"
    os.fstat(ours.fileno())  # the original descriptor stays open: its owner closes it


def test_an_attempt_without_a_response_yet_has_its_connections_socket_shut(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    attempt, late = _Attempt(), threading.Event()
    attempt.connection = SimpleNamespace(sock=ours)
    _expire(attempt, late)
    assert late.is_set(), "the attempt is marked late, so its error says so"
    assert ours.recv(1) == b"" and theirs.recv(1) == b""


def test_an_attempt_before_any_connection_is_only_marked_late() -> None:
    for connection in (None, SimpleNamespace(sock=None)):
        attempt, late = _Attempt(), threading.Event()
        attempt.connection = connection
        _expire(attempt, late)
        assert late.is_set()


def _response_on(sock: socket.socket | None, fp_socket: socket.socket | None = None) -> Any:
    closed: list[bool] = []
    raw = SimpleNamespace(
        connection=SimpleNamespace(sock=sock) if sock is not None else None,
        _fp=SimpleNamespace(fp=fp_socket) if fp_socket is not None else None,
    )
    return SimpleNamespace(raw=raw, close=lambda: closed.append(True), closed=closed)


def test_a_response_being_read_has_its_socket_shut_and_is_closed(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    attempt, late = _Attempt(), threading.Event()
    response = _response_on(ours)
    attempt.response = response
    attempt.connection = SimpleNamespace(sock=None)  # the response's socket is the one read
    _expire(attempt, late)
    assert late.is_set() and response.closed == [True]
    assert ours.recv(1) == b"" and theirs.recv(1) == b""


def test_a_response_that_let_go_of_its_socket_is_shut_through_its_files_descriptor(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair
    response, late = _response_on(None, fp_socket=ours), threading.Event()
    _cut_off(response, late)
    assert late.is_set() and response.closed == [True]
    assert ours.recv(1) == b"" and theirs.recv(1) == b""


def test_a_response_with_nothing_left_to_shut_is_closed_all_the_same() -> None:
    response, late = _response_on(None), threading.Event()
    _cut_off(response, late)  # no socket, no file: nothing raised
    assert late.is_set() and response.closed == [True]


def test_the_pools_tell_the_current_attempt_their_connection() -> None:
    pool = _WatchedHTTPPool("127.0.0.1", 9)  # nothing is sent: the pool only makes one
    attempt = _Attempt()
    client_module._attempts.current = attempt
    try:
        connection = pool._get_conn()
        assert attempt.connection is connection
    finally:
        del client_module._attempts.current
    assert pool._get_conn() is not None, "with no attempt, a connection all the same"
    assert issubclass(_WatchedHTTPSPool, _WatchedHTTPPool)


def test_the_adapter_makes_watched_pools_for_both_schemes() -> None:
    adapter = _WatchedAdapter()
    assert adapter.poolmanager.pool_classes_by_scheme == {
        "http": _WatchedHTTPPool,
        "https": _WatchedHTTPSPool,
    }
    pool = adapter.poolmanager.connection_from_url("http://127.0.0.1:9/")
    assert type(pool) is _WatchedHTTPPool


def test_a_socket_that_cannot_be_shut_any_more_is_left_as_it_is() -> None:
    # Never connected (or already shut by the other end): shutdown() raises ENOTCONN.
    with socket.socket() as loose:
        attempt, late = _Attempt(), threading.Event()
        attempt.connection = SimpleNamespace(sock=loose)
        _expire(attempt, late)
        assert late.is_set()


def test_a_response_whose_close_fails_is_cut_off_all_the_same(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    ours, theirs = pair

    def close() -> None:
        raise OSError("the connection is gone already")

    response = SimpleNamespace(
        raw=SimpleNamespace(connection=SimpleNamespace(sock=ours)), close=close
    )
    late = threading.Event()
    _cut_off(response, late)  # type: ignore[arg-type]
    assert late.is_set() and theirs.recv(1) == b""


def test_the_adapter_keeps_the_pool_settings_it_is_given() -> None:
    adapter = _WatchedAdapter(pool_block=True, pool_maxsize=3)
    assert adapter.poolmanager.connection_pool_kw["block"] is True
    assert adapter.poolmanager.connection_pool_kw["maxsize"] == 3
