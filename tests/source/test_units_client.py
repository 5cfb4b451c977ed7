"""The HTTP client piece by piece: settings, counters, pacing, headers, the request loop with a
scripted transport, paging. No emulator: answers are written here, expectations are literals.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import orjson
import pytest
from urllib3.exceptions import NewConnectionError

from tests.helpers import StubServer
from timetrack.errors import (
    NO_TOKEN,
    AccessDeniedError,
    ApiError,
    AuthenticationError,
    ConfigurationError,
    ConnectionFailedError,
    FeatureNotOnPlanError,
    NotFoundError,
    QuotaExhaustedError,
    RunStopped,
    ServiceError,
)
from timetrack.source import client as client_module
from timetrack.source.client import (
    ApiClient,
    ClientSettings,
    Done,
    Fail,
    Pacer,
    RequestStats,
    Retry,
    _Answer,
    _cut_off,
    _never_connected,
    _TransportFailure,
    backoff,
    classify,
    delay_seconds,
    header,
    is_list_or_null,
    is_object,
    is_page_or_null,
    is_record_of,
    list_payload,
    message_of,
    pages_of,
    quota_message,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
BASE = "https://service.test"


# --- pure helpers -----------------------------------------------------------------------------


def test_is_object_is_a_dict() -> None:
    assert is_object({}) is True
    assert is_object([]) is False
    assert is_object(None) is False


@pytest.mark.parametrize(
    ("payload", "fits"),
    [({"data": 5}, False), ({"data": []}, True), ({"data": {}}, False), ({"total": []}, False)],
)
def test_a_wrapped_page_needs_a_list_or_null_inside(payload: object, fits: bool) -> None:
    assert is_page_or_null(payload) is fits
    assert is_list_or_null(payload) is False  # only a paged list may come wrapped


@pytest.mark.parametrize(("payload", "fits"), [([], True), (None, True), ("x", False), (5, False)])
def test_a_page_unwrapped_is_a_list_or_null(payload: object, fits: bool) -> None:
    assert is_page_or_null(payload) is fits


def test_a_record_needs_one_field_it_is_known_by() -> None:
    fits = is_record_of({"members_count", "admins"})
    assert fits({"members_count": 3}) is True
    assert fits({"admins": None, "new": 1}) is True
    assert fits({}) is False
    assert fits({"error": "internal"}) is False
    assert fits([{"members_count": 3}]) is False


@pytest.mark.parametrize(
    "url", ["https://x", "https://x.test/api", "http://127.0.0.1:8080", "http://localhost"]
)
def test_settings_take_http_and_https(url: str) -> None:
    assert ClientSettings(base_url=url).validate() is None, "accepted"


@pytest.mark.parametrize("url", ["ftp://x", "x.test", "HTTP//x", ""])
def test_settings_refuse_another_scheme(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ClientSettings(base_url=url).validate()
    assert str(caught.value) == f"base_url must start with http:// or https://: {url}"


def test_settings_refuse_an_unknown_layout() -> None:
    with pytest.raises(ConfigurationError) as caught:
        ClientSettings(layout="flat").validate()  # type: ignore[arg-type]
    assert str(caught.value) == "layout must be one of envelope, bare"
    ClientSettings(layout="bare").validate()


@pytest.mark.parametrize(
    "changes",
    [{"requests_per_second": -1.0}, {"max_retries": -1}, {"backoff_factor": -0.5}],
)
def test_settings_refuse_negative_numbers(changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ClientSettings(**changes).validate()
    assert str(caught.value) == "rate, retries and backoff factor must not be negative"


def test_settings_take_zeros() -> None:
    settings = ClientSettings(requests_per_second=0, max_retries=0, backoff_factor=0)
    assert settings.validate() is None, "zero turns pacing, retries and backoff off"


def test_request_stats_count_and_deduplicate() -> None:
    stats = RequestStats()
    for _ in range(2):
        stats.error("e1")
        stats.warn("w1")
        stats.defer("s1")
    stats.error("e2")
    stats.warn("w2")
    stats.defer("s2")
    assert (stats.errors, stats.warnings, stats.deferred) == (
        ["e1", "e2"],
        ["w1", "w2"],
        ["s1", "s2"],
    )
    stats.stop("first")
    stats.stop("second")
    assert stats.stop_reason == "first"
    stats.count("200")
    stats.count("200")
    stats.count("500")
    assert stats.requests == 3
    assert stats.by_status == {"200": 2, "500": 1}
    stats.add_rows("t", 3)
    stats.add_rows("t", 4)
    stats.reject("t")
    stats.reject("t", 5)
    assert (stats.rows["t"], stats.rejected["t"]) == (7, 6)


def test_a_pacer_at_rate_zero_never_waits() -> None:
    slept: list[float] = []
    pacer = Pacer(0, slept.append)
    assert pacer.interval == 0.0
    assert [pacer.wait(), pacer.wait()] == [0.0, 0.0]
    assert slept == []


def test_a_pacer_spaces_requests_a_little_slower_than_the_rate() -> None:
    slept: list[float] = []
    pacer = Pacer(2.0, slept.append)
    assert pacer.interval == pytest.approx(0.525)
    assert pacer.wait() == 0.0, "the first request leaves at once"
    second = pacer.wait()
    third = pacer.wait()
    assert 0.4 < second <= 0.525
    assert 0.9 < third <= 1.05, "each slot is one interval after the previous one"
    assert slept == [second, third]


def test_a_pacer_below_one_request_a_second_paces_too() -> None:
    assert Pacer(0.5).interval == pytest.approx(2.1)
    assert Pacer(1.0).interval == pytest.approx(1.05)


def test_a_pacer_of_one_second_intervals_paces_too() -> None:
    slept: list[float] = []
    pacer = Pacer(1.05, slept.append)
    assert pacer.interval == 1.0
    pacer.wait()
    assert 0.9 < pacer.wait() <= 1.0
    assert len(slept) == 1


def test_a_pacer_without_a_sleep_uses_the_real_one(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", slept.append)
    pacer = Pacer(1000.0)
    pacer.wait()
    pacer.wait()
    assert len(slept) == 1 and 0 < slept[0] <= 0.00105


def test_a_header_is_found_by_the_end_of_its_name() -> None:
    headers = {"Content-Type": "x", "X-Brand-Quota-Resets-In": "5", "X-Other-Resets-In": "9"}
    assert header(headers, "QUOTA-RESETS-IN") == "5"
    assert header(headers, "resets-in") == "5", "the first match"
    assert header(headers, "missing") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (" 5 ", 5.0),
        ("0", 0.0),
        ("2.5", 2.5),
        ("Fri, 27 Nov 2026 12:00:42 -0000", 42.0),
        ("Fri, 27 Nov 2026 12:01:00 GMT", 60.0),
        ("Fri, 27 Nov 2026 13:00:00 +0100", 0.0),
        ("Fri, 99 Foo 2026", None),
        ("", None),
    ],
)
def test_delay_seconds_reads_both_forms(value: str, expected: float | None) -> None:
    assert delay_seconds(value, NOW) == expected


def test_delay_seconds_reads_a_date_against_the_real_clock_by_default() -> None:
    assert delay_seconds("Mon, 01 Jan 2001 00:00:00 GMT") == 0.0
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    assert 3590 < (delay_seconds(later) or 0) <= 3600


@pytest.mark.parametrize(
    ("content", "reason", "status", "expected"),
    [
        (b'"Invalid   workspace\\nID"', "", 404, "Invalid workspace ID"),
        (b'{"error": "x"}', "", 400, "{'error': 'x'}"),
        (b"<html> busy </html>", "", 503, "<html> busy </html>"),
        (b"\xff\xfe", "", 500, "\ufffd\ufffd"),
        (b"", "Not Found", 404, "Not Found"),
        (b"", "", 418, "418"),
        (b'"  "', "Teapot", 418, "Teapot"),
    ],
)
def test_the_message_of_an_error_is_one_short_line(
    content: bytes, reason: str, status: int, expected: str
) -> None:
    assert message_of(content, reason, status) == expected


def test_a_long_message_is_cut_at_200_characters() -> None:
    assert message_of(b"a" * 300, "", 500) == "a" * 200


def _classify(status: int, body: bytes = b"", **headers: str) -> object:
    return classify("GET", "/v1/x", status, headers, body, NOW)


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_every_2xx_is_done(status: int) -> None:
    assert _classify(status, b"[1]") == Done([1])


@pytest.mark.parametrize("status", [199, 300, 304, 400, 418])
def test_outside_2xx_is_an_error_with_its_message(status: int) -> None:
    decision = _classify(status, b'"nope"')
    assert isinstance(decision, Fail) and type(decision.error) is ApiError
    assert str(decision.error) == f"GET /v1/x failed with HTTP {status}: nope"
    assert decision.error.status == status


def test_an_error_without_a_body_names_its_status() -> None:
    decision = _classify(400)
    assert isinstance(decision, Fail)
    assert str(decision.error) == "GET /v1/x failed with HTTP 400: 400"


def test_a_retry_after_date_is_read_against_the_services_clock() -> None:
    later = format_datetime(NOW + timedelta(seconds=30), usegmt=True)
    assert _classify(503, **{"Retry-After": later}) == Retry("HTTP 503", 30.0)


def test_error_messages_say_what_and_where() -> None:
    feature = _classify(402, b'"Upgrade"')
    assert isinstance(feature, Fail) and type(feature.error) is FeatureNotOnPlanError
    assert str(feature.error) == "GET /v1/x: not included in the organization's plan (402: Upgrade)"
    assert feature.error.status == 402
    auth = _classify(401, b'"whatever"')
    assert isinstance(auth, Fail) and type(auth.error) is AuthenticationError
    assert str(auth.error) == (
        "the API token was rejected: check SOURCES__TIMETRACK__API_TOKEN (HTTP 401: no credentials)"
    )
    password = _classify(403, b'"Wrong PASSWORD"')
    assert isinstance(password, Fail) and type(password.error) is AuthenticationError
    assert str(password.error) == (
        "the API token was rejected: check SOURCES__TIMETRACK__API_TOKEN (HTTP 403: Wrong PASSWORD)"
    )
    assert password.error.status == 403
    denied = _classify(403, b'"no"')
    assert isinstance(denied, Fail) and str(denied.error) == "GET /v1/x: no access (no)"
    # a member who is no admin: refused, with the token accepted
    member = _classify(403, b'"not authorized to list the organization users"')
    assert isinstance(member, Fail) and type(member.error) is AccessDeniedError
    assert member.error.status == 403
    assert (
        str(member.error) == "GET /v1/x: no access (not authorized to list the organization users)"
    )
    missing = _classify(404, b'"gone"')
    assert isinstance(missing, Fail) and str(missing.error) == "GET /v1/x: not found (gone)"


def test_backoff_grows_by_the_factor() -> None:
    assert [backoff(n, 3.0, None, 100) for n in (1, 2, 3, 4)] == [3.0, 6.0, 12.0, 24.0]
    assert backoff(5, 3.0, None, 40.0) == 40.0
    assert backoff(1, 3.0, 0.0, 40.0) == 0.0, "Retry-After: 0 is taken at its word"


def test_a_reset_of_exactly_a_week_is_still_usable() -> None:
    error = quota_message("/v1/me", 7 * 86400.0, NOW)
    assert str(error) == (
        "the hourly API quota is spent (/v1/me); it resets in 10080 min: run again after 12:00 UTC"
    )
    assert error.resets_in == 604800


@pytest.mark.parametrize(("seconds", "minutes", "at"), [(60.0, 1, "12:01"), (61.0, 2, "12:01")])
def test_a_reset_is_rounded_up_to_the_minute(seconds: float, minutes: int, at: str) -> None:
    error = quota_message("/w", seconds, NOW)
    assert str(error) == (
        f"the hourly API quota is spent (/w); it resets in {minutes} min: run again after {at} UTC"
    )
    assert isinstance(error, QuotaExhaustedError) and error.resets_in == int(seconds)


def test_an_unusable_reset_says_an_hour() -> None:
    error = quota_message("/w", 7 * 86400.0 + 1, NOW)
    assert str(error) == (
        "the hourly API quota is spent (/w) and the service gave no usable reset time: "
        "run again in an hour"
    )


def _refused() -> NewConnectionError:
    return NewConnectionError(None, "refused")  # type: ignore[arg-type]


def test_a_connection_never_made_is_found_anywhere_in_the_chain() -> None:
    assert _never_connected(_refused())
    assert _never_connected(OSError("wrapped", _refused()))
    caused = ValueError("outer")
    caused.__cause__ = _refused()
    assert _never_connected(caused)
    context = ValueError("outer")
    context.__context__ = _refused()
    assert _never_connected(context)
    with_reason = ValueError("outer")
    with_reason.reason = _refused()  # type: ignore[attr-defined]
    assert _never_connected(with_reason)
    deep = ValueError("a", KeyError("b", OSError("c", _refused())))
    assert _never_connected(deep)
    shared = KeyError("seen twice")
    assert _never_connected(ValueError(_refused(), shared, shared)), "a repeat ends no walk"


def test_a_dropped_connection_is_not_a_connection_never_made() -> None:
    assert not _never_connected(ConnectionResetError("reset"))
    looped = ValueError("loop")
    looped.__context__ = looped
    looped.__cause__ = ValueError("other", looped)
    assert not _never_connected(looped), "a cycle in the chain ends the walk"


class _Sock:
    def __init__(self, error: bool = False) -> None:
        self.how: list[int] = []
        self.error = error

    def shutdown(self, how: int) -> None:
        self.how.append(how)
        if self.error:
            raise OSError("already closed")


class _Raw:
    def __init__(self, sock: _Sock, private: bool = False) -> None:
        holder = type("Connection", (), {"sock": sock})()
        if private:
            self._connection = holder
        else:
            self.connection = holder


class _Response:
    def __init__(self, raw: _Raw) -> None:
        self.raw = raw
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_cutting_off_shuts_the_socket_and_closes_the_response() -> None:
    for private in (False, True):
        sock = _Sock()
        response = _Response(_Raw(sock, private))
        late = threading.Event()
        _cut_off(response, late)  # type: ignore[arg-type]
        assert late.is_set()
        assert sock.how == [socket.SHUT_RDWR]
        assert response.closed == 1
    failing = _Sock(error=True)
    response = _Response(_Raw(failing))
    _cut_off(response, threading.Event())  # type: ignore[arg-type]
    assert failing.how == [socket.SHUT_RDWR] and response.closed == 1, "closed all the same"


def test_cutting_off_a_response_without_a_connection_still_closes_it() -> None:
    response = _Response(type("Raw", (), {})())  # type: ignore[arg-type]
    late = threading.Event()
    _cut_off(response, late)  # type: ignore[arg-type]
    assert late.is_set() and response.closed == 1
    holder = _Response(_Raw(_Sock()))
    holder.raw.connection = object()  # type: ignore[attr-defined]
    _cut_off(holder, threading.Event())  # type: ignore[arg-type]
    assert holder.closed == 1


def test_a_transport_failure_says_its_reason() -> None:
    failure = _TransportFailure("ReadTimeout", True)
    assert (str(failure), failure.reason, failure.never_connected) == (
        "ReadTimeout",
        "ReadTimeout",
        True,
    )


def test_list_payload_reads_the_items_whatever_the_total_says() -> None:
    assert list_payload([1, 2]) == [1, 2]
    assert list_payload(None) is None
    assert list_payload({"data": [1], "total_count": 7}) == [1]
    assert list_payload({"data": None, "total_count": 0}) is None
    assert list_payload({"data": [1], "total_count": "7"}) == [1]
    assert list_payload({"data": [1]}) == [1]


# --- the client, with a scripted transport -------------------------------------------------------


def _answer(status: int = 200, body: bytes = b"{}", **headers: str) -> _Answer:
    return _Answer(status, headers, body, "Reason")


class Scripted:
    """A client whose every attempt takes the next scripted answer (or raises the failure)."""

    def __init__(
        self, answers: list[_Answer | _TransportFailure], token: str = " tok ", **config: Any
    ) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, str, Any, Any]] = []
        self.slept: list[float] = []
        settings = {"base_url": BASE, "requests_per_second": 0.0, **config}
        self.client = ApiClient(token, ClientSettings(**settings), sleep=self.slept.append)
        self.client._attempt = self._attempt  # type: ignore[method-assign]

    def _attempt(self, method: str, url: str, params: Any, json: Any) -> _Answer:
        self.sent.append((method, url, params, json))
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, _TransportFailure):
            raise answer
        return answer


@pytest.mark.parametrize("token", ["", "   "])
def test_a_client_needs_a_token(token: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        ApiClient(token, ClientSettings())
    assert str(caught.value) == NO_TOKEN


def test_a_client_checks_its_settings() -> None:
    with pytest.raises(ConfigurationError, match="base_url must start"):
        ApiClient("tok", ClientSettings(base_url="ftp://x"))


def test_a_client_sends_the_stripped_token_and_its_name() -> None:
    client = ApiClient(" tok ", ClientSettings(base_url=BASE + "/"))
    assert client._session.auth == ("tok", "api_token")
    assert client._session.headers["User-Agent"] == "timetrack (dlt source)"
    assert client._session.headers["Accept"] == "application/json"
    assert client.url("/me") == BASE + "/v1/me"
    assert client.organization_of == {}
    assert client.stats.requests == 0
    stats = RequestStats()
    assert ApiClient("tok", ClientSettings(), stats=stats).stats is stats


def test_the_transport_never_retries_by_itself_and_pools_connections() -> None:
    # Retries are the client's own, counted and paced; requests' adapter must not add any.
    client = ApiClient("tok", ClientSettings(base_url="https://HOST.X/"))
    assert client.url("/me") == "https://HOST.X/v1/me", "only the trailing slash is cut"
    for url in ("http://a.test/x", "https://a.test/x"):
        adapter = client._session.get_adapter(url)
        assert adapter.max_retries.total == 0  # type: ignore[attr-defined]
        assert adapter._pool_connections == 4  # type: ignore[attr-defined]
        assert adapter._pool_maxsize == 16  # type: ignore[attr-defined]


def test_urls_follow_the_layout() -> None:
    bare = ApiClient("tok", ClientSettings(base_url=BASE, layout="bare"))
    assert bare.url("/me/workspaces") == BASE + "/api/v9/me/workspaces"


def test_unwrap_removes_only_the_envelope() -> None:
    envelope = ApiClient("tok", ClientSettings(base_url=BASE))
    bare = ApiClient("tok", ClientSettings(base_url=BASE, layout="bare"))
    assert envelope.unwrap({"data": [1]}) == [1]
    assert envelope.unwrap({"items": [1]}) == {"items": [1]}
    assert envelope.unwrap([1]) == [1]
    assert bare.unwrap({"data": [1]}) == {"data": [1]}


def test_get_returns_the_payload_and_sends_the_params() -> None:
    s = Scripted([_answer(body=b'{"data": {"id": 1}}')])
    assert s.client.get("/me", {"a": 1}) == {"id": 1}
    assert s.sent == [("GET", BASE + "/v1/me", {"a": 1}, None)]
    assert s.client.stats.requests == 1
    assert s.client.stats.by_status == {"200": 1}


def test_an_envelope_without_data_does_not_fit_any_shape() -> None:
    s = Scripted([_answer(body=b"[]"), _answer(body=b'{"data": []}')])
    assert s.client.get("/me/workspaces", shape=is_list_or_null) == []
    assert len(s.sent) == 2 and s.client.stats.retries == 1
    assert s.slept == [2.0]


def test_a_list_holding_the_word_data_is_no_envelope() -> None:
    s = Scripted([_answer(body=b'["data"]'), _answer(body=b'{"data": []}')])
    assert s.client.get("/me/workspaces", shape=is_list_or_null) == []
    assert len(s.sent) == 2


def test_a_payload_of_the_wrong_shape_is_retried_then_fails() -> None:
    s = Scripted([_answer(body=b'{"data": {"id": 1}}')], max_retries=1)
    with pytest.raises(ServiceError) as caught:
        s.client.get("/me/workspaces", shape=is_list_or_null)
    assert str(caught.value) == (
        "GET /v1/me/workspaces failed 2 times, last with an answer of the wrong shape; "
        "the service may be down: try again later"
    )


def test_the_bare_layout_fits_its_payload_as_it_is() -> None:
    s = Scripted([_answer(body=b"null")], layout="bare")
    assert s.client.get("/me/workspaces", shape=is_list_or_null) is None
    assert len(s.sent) == 1


def test_a_report_page_is_posted_with_its_body() -> None:
    s = Scripted([_answer(body=b'{"data": [{"id": 1}]}', **{"X-Next-ID": "5"})])
    rows, headers = s.client.report(7, {"start_date": "2026-01-01"})
    assert rows == [{"id": 1}]
    assert headers == {"X-Next-ID": "5"}
    assert s.sent == [
        (
            "POST",
            BASE + "/v1/reports/workspace/7/search/time_entries",
            None,
            {"start_date": "2026-01-01"},
        )
    ]
    bare = Scripted([_answer(body=b"null")], layout="bare")
    assert bare.client.report(8, {}) == (None, {})
    odd = Scripted([_answer(body=b'{"data": {"id": 1}}'), _answer(body=b'{"data": []}')])
    assert odd.client.report(7, {})[0] == [], "a page of the wrong shape is asked again"
    assert len(odd.sent) == 2
    assert bare.sent[0][1] == BASE + "/reports/api/v3/workspace/8/search/time_entries"


def test_retries_back_off_two_four_eight_then_fail() -> None:
    s = Scripted([_answer(500, b"")])
    with pytest.raises(ServiceError) as caught:
        s.client.get("/me")
    assert str(caught.value) == (
        "GET /v1/me failed 4 times, last with HTTP 500; the service may be down: try again later"
    )
    assert caught.value.status == 500, "the last answer's status, for `check` to show"
    assert s.slept == [2.0, 4.0, 8.0]
    assert s.client.stats.waits == [2.0, 4.0, 8.0]
    assert s.client.stats.retries == 3
    assert s.client.stats.requests == 4
    assert s.client.stats.by_status == {"500": 4}


def test_retry_after_is_followed_up_to_the_cap() -> None:
    s = Scripted(
        [
            _answer(429, b"", **{"Retry-After": "7"}),
            _answer(503, b"", **{"Retry-After": "900"}),
            _answer(body=b"[]"),
        ],
        max_retry_delay=60.0,
    )
    assert s.client.get("/me") == []
    assert s.slept == [7.0, 60.0]


def test_a_retry_then_success_clears_the_failure_count() -> None:
    s = Scripted([_answer(500, b"")], max_retries=0)
    for _ in range(2):
        with pytest.raises(ServiceError):
            s.client.get("/me")
    s.answers = [_answer(body=b"{}")]
    s.client.get("/me")
    s.answers = [_answer(500, b"")]
    for _ in range(2):
        with pytest.raises(ServiceError):
            s.client.get("/me")
    assert s.client.stats.stop_reason is None, "two in a row since the success, not four"
    with pytest.raises(ServiceError):
        s.client.get("/me")
    assert s.client.stats.stop_reason == (
        "the service failed every retry of several requests in a row"
    )
    sent = len(s.sent)
    with pytest.raises(RunStopped) as caught:
        s.client.get("/me")
    assert str(caught.value) == "the service failed every retry of several requests in a row"
    assert len(s.sent) == sent, "a stopped run sends nothing"


def test_stop_is_told_to_every_later_request() -> None:
    s = Scripted([_answer()])
    s.client.stop("Ctrl-C")
    with pytest.raises(RunStopped, match="Ctrl-C"):
        s.client.get("/me")
    assert s.sent == []


def test_a_server_never_reached_fails_at_once() -> None:
    s = Scripted([_TransportFailure("ConnectionError", True)])
    with pytest.raises(ConnectionFailedError) as caught:
        s.client.get("/me")
    assert str(caught.value) == f"cannot reach {BASE}: check base_url and the network"
    assert s.client.stats.by_status == {"connection error": 1}
    assert s.slept == []


def test_a_dropped_connection_is_retried_and_so_is_a_refusal_after_the_first_try() -> None:
    s = Scripted(
        [
            _TransportFailure("ReadTimeout", False),
            _TransportFailure("ConnectionError", True),
            _answer(body=b"[]"),
        ]
    )
    assert s.client.get("/me") == []
    assert s.client.stats.by_status == {"connection error": 2, "200": 1}
    assert s.slept == [2.0, 4.0]
    last = Scripted(
        [_answer(500, b""), _TransportFailure("ChunkedEncodingError", False)], max_retries=1
    )
    with pytest.raises(ServiceError, match="last with ChunkedEncodingError;") as caught:
        last.client.get("/me")
    assert caught.value.status is None, "no answer came the last time: no status"


def test_a_refusal_is_raised_as_it_is() -> None:
    s = Scripted([_answer(403, b'"no"')])
    with pytest.raises(AccessDeniedError) as caught:
        s.client.get("/workspaces/5/clients")
    assert str(caught.value) == "GET /v1/workspaces/5/clients: no access (no)"
    assert len(s.sent) == 1


@pytest.mark.parametrize(
    ("base", "hint"),
    [
        (BASE, ""),
        (BASE + "/v1", "; base_url should be the service's root, without /v1"),
        (BASE + "/api", "; base_url should be the service's root, without /v1"),
    ],
)
def test_not_found_names_the_url_and_hints_at_a_doubled_prefix(base: str, hint: str) -> None:
    s = Scripted([_answer(404, b'"Not Found"')], base_url=base)
    with pytest.raises(NotFoundError) as caught:
        s.client.get("/me", {"page": 2})
    url = base + "/v1/me"
    assert str(caught.value) == f"GET /v1/me: not found (Not Found) at {url}{hint}"
    assert caught.value.status == 404


def test_not_found_in_the_bare_layout_names_its_prefix() -> None:
    s = Scripted([_answer(404, b'"x"')], base_url=BASE + "/api/v9", layout="bare")
    with pytest.raises(NotFoundError) as caught:
        s.client.request("GET", BASE + "/api/v9/api/v9/me?page=2")
    assert str(caught.value).endswith(
        f"at {BASE}/api/v9/api/v9/me; base_url should be the service's root, without /api/v9"
    )


SECRET = "s3cr3t/t0ken+x"
BASIC = "czNjcjN0L3Qwa2VuK3g6YXBpX3Rva2Vu"  # base64 of SECRET + ":api_token"


@pytest.mark.parametrize(
    ("status", "kind"),
    [(403, AuthenticationError), (403, AccessDeniedError), (404, NotFoundError), (400, ApiError)],
)
def test_an_error_text_that_echoes_the_token_is_masked(status: int, kind: type) -> None:
    said = "password" if kind is AuthenticationError else "refused"
    echo = f"{said}: {SECRET} / Basic {BASIC} / s3cr3t%2Ft0ken%2Bx"
    s = Scripted([_answer(status, orjson.dumps(echo))], token=f" {SECRET} ")
    with pytest.raises(kind) as caught:
        s.client.get("/workspaces/5/clients")
    text = str(caught.value)
    assert type(caught.value) is kind
    assert SECRET not in text and BASIC not in text and "s3cr3t%2Ft0ken%2Bx" not in text
    assert text.count("s*****x") == 2 and "c*****u" in text, text
    assert caught.value.status == status


def test_a_token_of_six_characters_is_masked() -> None:
    s = Scripted([_answer(400, b'"echo abcdef"')], token="abcdef")
    with pytest.raises(ApiError) as caught:
        s.client.get("/me")
    assert str(caught.value) == "GET /v1/me failed with HTTP 400: echo a*****f"


def test_a_token_too_short_to_mask_leaves_the_text_alone() -> None:
    s = Scripted([_answer(400, b'"a tok of text"')], token="tok")
    with pytest.raises(ApiError, match="a tok of text"):
        s.client.get("/me")


def test_a_short_quota_reset_is_waited_for() -> None:
    told: list[tuple[float, str]] = []
    s = Scripted([_answer(402, b"", **{"X-Quota-Resets-In": "5"}), _answer(body=b"[]")])
    s.client.stats.on_quota_wait = lambda seconds, key: told.append((seconds, key))
    assert s.client.get("/me") == []
    assert s.slept == [6.0], "one second more: the reset is counted in whole seconds"
    assert told == [(6.0, "me")]
    assert s.client.stats.retries == 0


def test_quota_waits_are_counted_per_request() -> None:
    told: list[tuple[float, str]] = []
    s = Scripted([_answer(402, b"", **{"X-Quota-Resets-In": "1"})], max_quota_waits=2)
    s.client.stats.on_quota_wait = lambda seconds, key: told.append((seconds, key))
    with pytest.raises(QuotaExhaustedError) as caught:
        s.client.get("/workspaces/9/tags")
    assert s.slept == [2.0, 2.0]
    assert told == [(2.0, "/v1/workspaces/9/tags"), (2.0, "/v1/workspaces/9/tags")]
    assert "resets in 1 min" in str(caught.value)
    assert s.client.stats.quota_stops == {}, "no quota window known for the path"


def test_a_long_quota_reset_stops_that_window_only() -> None:
    s = Scripted([_answer(402, b"", **{"X-Quota-Resets-In": "600"})], max_quota_wait=300.0)
    s.client.organization_of[9] = 4
    with pytest.raises(QuotaExhaustedError) as caught:
        s.client.get("/workspaces/9/tags")
    assert s.slept == []
    assert s.client.stats.quota_stops == {"org:4": caught.value}
    assert caught.value.resets_in == 600
    assert str(caught.value).startswith(
        "the hourly API quota is spent (/v1/workspaces/9/tags); it resets in 10 min: "
    )
    with pytest.raises(QuotaExhaustedError) as again:
        s.client.get("/organizations/4/users")
    assert again.value is caught.value
    assert len(s.sent) == 1, "a window known spent is not asked again"
    s.answers = [_answer(body=b"[]")]
    assert s.client.get("/me") == []


def test_the_time_to_run_again_is_in_utc_whatever_the_local_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = Scripted([_answer(402, b"", **{"X-Quota-Resets-In": "3000"})])
    monkeypatch.setenv("TZ", "Asia/Kathmandu")  # +05:45: no whole-hour coincidence
    time.tzset()
    try:
        before = datetime.now(UTC) + timedelta(seconds=3000)
        with pytest.raises(QuotaExhaustedError) as caught:
            s.client.get("/me")
        after = datetime.now(UTC) + timedelta(seconds=3000)
    finally:
        monkeypatch.undo()
        time.tzset()
    said = str(caught.value).rsplit("run again after ", 1)[1]
    assert said in {f"{before:%H:%M} UTC", f"{after:%H:%M} UTC"}


def test_a_reset_at_the_limit_is_waited_for() -> None:
    s = Scripted(
        [_answer(402, b"", **{"X-Quota-Resets-In": "299"}), _answer(body=b"1")],
        max_quota_wait=300.0,
        max_quota_waits=1,
    )
    assert s.client.get("/me") == 1
    assert s.slept == [300.0]


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/v1/me", "me"),
        ("/v1/me/time_entries?since=1", "me"),
        ("/v1/organizations/12/users", "org:12"),
        ("/v1/workspaces/7/projects", "org:3"),
        ("/v1/workspaces/8/projects", None),
        ("/v1/reports/workspace/7/search/time_entries", "org:3"),
        ("/v1/reports/workspace/8/search/time_entries", None),
        ("/v1/other/7", None),
        ("/v2/me", None),
    ],
)
def test_the_quota_window_of_a_url(path: str, key: str | None) -> None:
    client = ApiClient("tok", ClientSettings(base_url=BASE))
    client.organization_of[7] = 3
    assert client.quota_key(BASE + path) == key


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/api/v9/me/organizations", "me"),
        ("/api/v9/organizations/12/groups", "org:12"),
        ("/api/v9/workspaces/7/tags", "org:3"),
        ("/reports/api/v3/workspace/7/search/time_entries", "org:3"),
        ("/v1/me", None),
    ],
)
def test_the_quota_window_of_a_bare_url(path: str, key: str | None) -> None:
    client = ApiClient("tok", ClientSettings(base_url=BASE, layout="bare"))
    client.organization_of[7] = 3
    assert client.quota_key(BASE + path) == key


def test_pacing_time_is_counted() -> None:
    # One request a second (slots 1.05 s apart) and a sleep that only records: a loaded
    # machine's few milliseconds between requests never reach a slot (1,000 a second did).
    s = Scripted([_answer(body=b"1")], requests_per_second=1.0)
    for _ in range(3):
        s.client.get("/me")
    assert len(s.slept) == 2, "the first request leaves at once"
    assert s.client.stats.pacing_seconds == pytest.approx(sum(s.slept))
    assert 2.5 < s.client.stats.pacing_seconds <= 3 * 1.05, "slots of 1.05 s and 2.1 s"


def _date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


def test_the_services_clock_is_read_from_its_date_header() -> None:
    ahead = datetime.now(UTC) + timedelta(hours=2)
    s = Scripted([_answer(body=b"{}", Date=_date(ahead))])
    now = s.client.server_now()
    assert len(s.sent) == 1 and s.sent[0][1] == BASE + "/v1/me"
    assert abs((now - ahead).total_seconds()) < 5
    assert abs((s.client._now() - ahead).total_seconds()) < 5
    s.client.server_now()
    assert len(s.sent) == 1, "/me is asked once, only when no answer was seen yet"


def test_a_retry_after_date_is_read_against_the_services_clock_in_a_request() -> None:
    behind = datetime.now(UTC) - timedelta(hours=1)
    later = _date(behind + timedelta(seconds=30))
    s = Scripted(
        [_answer(503, b"", Date=_date(behind), **{"Retry-After": later}), _answer(body=b"1")]
    )
    s.client.get("/me")
    assert 28 <= s.slept[0] <= 30, "30 s at the service, whose clock is an hour behind ours"


@pytest.mark.parametrize(
    "value", ["", "not a date", "Fri, 27 Nov 2026 25:61:00 GMT", "Sat, 99 Xyz 2026"]
)
def test_an_unreadable_date_leaves_the_clock_alone(value: str) -> None:
    s = Scripted([_answer(body=b"{}", Date=value)])
    s.client.get("/x")
    assert s.client._clock_offset is None


def test_a_missing_date_leaves_the_clock_alone() -> None:
    s = Scripted([_answer(body=b"{}")])
    s.client.get("/x")
    assert s.client._clock_offset is None


def test_a_date_within_two_seconds_is_our_own_clock() -> None:
    s = Scripted([_answer(body=b"{}", Date=_date(datetime.now(UTC) + timedelta(seconds=1)))])
    s.client.get("/x")
    assert s.client._clock_offset == 0.0
    naive = datetime.now(UTC) + timedelta(seconds=100)
    s.answers = [_answer(body=b"{}", Date=naive.strftime("%a, %d %b %Y %H:%M:%S -0000"))]
    s.client.get("/x")
    assert 95 < (s.client._clock_offset or 0) < 101


def test_server_now_without_an_offset_is_our_clock() -> None:
    s = Scripted([_answer(body=b"{}")])
    before = datetime.now(UTC)
    assert before <= s.client._now() <= datetime.now(UTC), "no Date seen yet"
    now = s.client.server_now()
    assert before <= now <= datetime.now(UTC)
    assert before <= s.client._now() <= datetime.now(UTC), "a Date within noise"


class _Frozen(datetime):
    """datetime whose now() is a fixed moment, for offsets to the exact second."""

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return NOW


@pytest.mark.parametrize(("ahead", "offset"), [(1, 0.0), (2, 0.0), (3, 3.0), (-3, -3.0)])
def test_an_offset_over_two_seconds_is_the_services_clock(
    monkeypatch: pytest.MonkeyPatch, ahead: int, offset: float
) -> None:
    monkeypatch.setattr(client_module, "datetime", _Frozen)
    s = Scripted([_answer(body=b"{}", Date=_date(NOW + timedelta(seconds=ahead)))])
    s.client.get("/x")
    assert s.client._clock_offset == offset


# --- real sockets: the one attempt --------------------------------------------------------------


def test_an_attempt_reads_status_headers_and_body() -> None:
    with StubServer([(201, {"X-Thing": "1"}, {"data": [1]})]) as stub:
        client = ApiClient("tok", ClientSettings(base_url=stub.base_url))
        sent: list[dict[str, Any]] = []
        real = client._session.request

        def spy(method: str, url: str, **kwargs: Any) -> Any:
            sent.append({"method": method, "url": url, **kwargs})
            return real(method, url, **kwargs)

        client._session.request = spy  # type: ignore[method-assign]
        body, headers = client.request("GET", stub.base_url + "/v1/me", params={"a": "b"})
        quick = ApiClient("tok", ClientSettings(base_url=stub.base_url, timeout=4.0))
        quick._session.request = spy  # type: ignore[method-assign]
        quick.get("/me")
    assert body == {"data": [1]}
    assert headers["X-Thing"] == "1"
    assert client.stats.by_status == {"201": 1}
    assert sent[0] == {
        "method": "GET",
        "url": stub.base_url + "/v1/me",
        "params": {"a": "b"},
        "json": None,
        "timeout": (10.0, 60.0),
        "stream": True,
        "allow_redirects": False,
    }
    assert sent[1]["timeout"] == (4.0, 4.0)


def test_an_attempt_sends_its_json_and_reads_a_long_body_whole() -> None:
    long = list(range(40_000))
    with StubServer([(200, {}, long)]) as stub:
        client = ApiClient("tok", ClientSettings(base_url=stub.base_url))
        sent: list[Any] = []
        real = client._session.request

        def spy(method: str, url: str, **kwargs: Any) -> Any:
            sent.append(kwargs["json"])
            return real(method, url, **kwargs)

        client._session.request = spy  # type: ignore[method-assign]
        answer = client._attempt("GET", stub.base_url + "/v1/x", None, {"a": 1})
    assert sent == [{"a": 1}]
    assert len(answer.content) > 3 * 65536
    assert answer.content == orjson.dumps(long)


def test_a_dropped_connection_is_retried_under_its_errors_name() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]

        def drop() -> None:
            connection, _ = server.accept()
            connection.close()

        thread = threading.Thread(target=drop, daemon=True)
        thread.start()
        client = ApiClient(
            "tok", ClientSettings(base_url=f"http://127.0.0.1:{port}", max_retries=0)
        )
        with pytest.raises(ServiceError) as caught:
            client.get("/me")
        thread.join(timeout=10)
    assert str(caught.value) == (
        "GET /v1/me failed 1 times, last with ConnectionError; the service may be down: "
        "try again later"
    )


def test_a_refused_connection_is_a_connection_never_made() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = ApiClient("tok", ClientSettings(base_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(ConnectionFailedError):
        client.get("/me")
    assert client.stats.by_status == {"connection error": 1}


@pytest.mark.parametrize("then_raise", [False, True])
def test_an_answer_slower_than_the_deadline_is_cut_off(
    monkeypatch: pytest.MonkeyPatch, then_raise: bool
) -> None:
    cut = threading.Event()
    original = client_module._cut_off

    def cut_off(response: Any, late: threading.Event) -> None:
        original(response, late)
        cut.set()

    def trickle(self: Any, chunk_size: int) -> Iterator[bytes]:
        assert chunk_size == 65536
        yield b"[1"
        assert cut.wait(10), "the watchdog fires at the deadline"
        if then_raise:
            raise client_module.requests.ConnectionError("socket shut")

    timers: list[Any] = []
    real_timer = client_module.threading.Timer

    def timer(interval: float, function: Any, args: Any) -> Any:
        made = real_timer(interval, function, args)
        timers.append((interval, made))
        return made

    monkeypatch.setattr(client_module, "_cut_off", cut_off)
    monkeypatch.setattr(client_module.requests.Response, "iter_content", trickle)
    monkeypatch.setattr(client_module.threading, "Timer", timer)
    with StubServer([(200, {}, [1])]) as stub:
        client = ApiClient("tok", ClientSettings(base_url=stub.base_url, deadline=0.6))
        with pytest.raises(_TransportFailure) as caught:
            client._attempt("GET", stub.base_url + "/v1/me", None, None)
    assert caught.value.reason == "an answer slower than 0.6 s"  # not rounded to 1
    assert caught.value.never_connected is False
    ((interval, watchdog),) = timers
    assert 0 < interval <= 0.6, "what is left of the deadline once the headers are in"
    assert watchdog.daemon is True, "a watchdog never holds the process open"


def test_a_body_within_the_deadline_is_not_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(client_module, "_cut_off", lambda *args: calls.append(args))
    with StubServer([(200, {}, [1])]) as stub:
        client = ApiClient("tok", ClientSettings(base_url=stub.base_url, deadline=30.0))
        answer = client._attempt("GET", stub.base_url + "/v1/me", None, None)
    assert (answer.status, answer.content, answer.reason) == (200, b"[1]", "OK")
    assert calls == [], "the watchdog is cancelled once the body is in"


# --- paging -------------------------------------------------------------------------------------


class Pages:
    """A stand-in client: `request` answers the scripted pages in order (a body, or a body
    and its headers) and records the params."""

    def __init__(self, pages: list[Any]) -> None:
        self.pages = list(pages)
        self.params: list[dict[str, Any]] = []

    def url(self, path: str) -> str:
        return "https://service.test/v1" + path

    def unwrap(self, body: Any) -> Any:
        return body

    def request(
        self, method: str, url: str, params: dict[str, Any], shape: Any = None
    ) -> tuple[Any, dict[str, str]]:
        assert (method, url) == ("GET", "https://service.test/v1/p")
        assert shape is is_page_or_null
        self.params.append(params)
        page = self.pages.pop(0)
        return page if isinstance(page, Answered) else (page, {})


class Answered(tuple[Any, dict[str, str]]):
    """A scripted page with headers."""


def _pages(pages: list[Any], **kwargs: Any) -> tuple[list[tuple[int, Any]], Pages]:
    client = Pages(pages)
    return list(pages_of(client, "/p", **kwargs)), client  # type: ignore[arg-type]


def test_a_short_page_without_a_count_is_proved_the_last_by_one_more() -> None:
    got, client = _pages([[1, 2], [3, 4], [5], []], params={"active": "both"}, per_page=2)
    assert got == [(1, [1, 2]), (2, [3, 4]), (3, [5])]  # the empty page is not handed on
    assert client.params == [
        {"active": "both", "page": 1, "per_page": 2},
        {"active": "both", "page": 2, "per_page": 2},
        {"active": "both", "page": 3, "per_page": 2},
        {"active": "both", "page": 4, "per_page": 2},
    ]
    # a gateway that cuts per_page to 1: every page is short, each goes on to the next
    capped, _ = _pages([[1], [2], [3], []], per_page=2)
    assert capped == [(1, [1]), (2, [2]), (3, [3])]
    # past its end, a service that answers the last page again ends the list just the same
    again, _ = _pages([[1, 2], [3], [3]], per_page=2)
    assert again == [(1, [1, 2]), (2, [3])]


def test_a_short_page_that_reaches_the_count_ends_the_list() -> None:
    wrapped, client = _pages(
        [{"data": [1, 2], "total_count": 3}, {"data": [3], "total_count": 3}], per_page=2
    )
    assert wrapped == [(1, [1, 2]), (2, [3])] and len(client.params) == 2
    counted, client = _pages(
        [Answered(([1, 2], {"X-Records": "3"})), Answered(([3], {"X-Records": "3"}))], per_page=2
    )
    assert counted == [(1, [1, 2]), (2, [3])] and len(client.params) == 2
    per_record, client = _pages([[{"id": 1, "total_count": 1}]], per_page=2)
    assert per_record == [(1, [{"id": 1, "total_count": 1}])] and len(client.params) == 1
    # a count that says more follows a short page is followed (a gateway cut the page)
    more, client = _pages(
        [Answered(([1], {"X-Records": "2"})), Answered(([2], {"X-Records": "2"}))], per_page=5
    )
    assert more == [(1, [1]), (2, [2])] and len(client.params) == 2
    # a count that is no number says nothing: one more page proves the end
    nonsense, client = _pages([Answered(([1], {"X-Records": "many"})), []], per_page=5)
    assert nonsense == [(1, [1])] and len(client.params) == 2


def test_pages_default_to_200_from_page_one() -> None:
    got, client = _pages([[1], []])
    assert got == [(1, [1])]
    assert client.params == [{"page": 1, "per_page": 200}, {"page": 2, "per_page": 200}]


def test_a_page_size_refused_by_a_400_halves_and_goes_on() -> None:
    class Refusing(Pages):
        def request(
            self, method: str, url: str, params: dict[str, Any], shape: Any = None
        ) -> tuple[Any, dict[str, str]]:
            if params["per_page"] > 50:
                self.params.append(params)
                raise ApiError("GET /p failed with HTTP 400: per_page is at most 50", 400)
            return super().request(method, url, params, shape)

    client = Refusing([[1] * 50, [2] * 10, []])
    got = list(pages_of(client, "/p"))  # type: ignore[arg-type]
    assert [(n, len(items or [])) for n, items in got] == [(1, 50), (2, 10)]
    asked = [(p["page"], p["per_page"]) for p in client.params]
    assert asked == [(1, 200), (1, 100), (1, 50), (2, 50), (3, 50)]

    class RefusingLater(Pages):
        def request(
            self, method: str, url: str, params: dict[str, Any], shape: Any = None
        ) -> tuple[Any, dict[str, str]]:
            if params["page"] > 1 and params["per_page"] > 100:
                self.params.append(params)
                raise ApiError("GET /p failed with HTTP 400: page size too large", 400)
            return super().request(method, url, params, shape)

    # refused half way through, the list goes on where the smaller pages put it: records
    # 201-300 are page 3 of 100
    later = RefusingLater([list(range(200)), list(range(200, 300)), list(range(300, 310)), []])
    got = list(pages_of(later, "/p"))  # type: ignore[arg-type]
    assert [n for n, _ in got] == [1, 3, 4]
    asked = [(p["page"], p["per_page"]) for p in later.params]
    assert asked == [(1, 200), (2, 200), (3, 100), (4, 100), (5, 100)]

    class RefusingAFilter(Pages):
        def request(self, *args: Any, **kwargs: Any) -> tuple[Any, dict[str, str]]:
            raise ApiError("GET /p failed with HTTP 400: bad filter", 400)

    with pytest.raises(ApiError, match="bad filter"):  # a 400 about no page size: raised
        list(pages_of(RefusingAFilter([]), "/p"))  # type: ignore[arg-type]


def test_a_full_page_is_followed_whatever_the_total_count_says() -> None:
    # a total that agrees costs one request for the empty page after a full last one
    got, client = _pages(
        [
            {"data": [1, 2], "total_count": 4},
            {"data": [3, 4], "total_count": 4},
            {"data": [], "total_count": 4},
        ],
        per_page=2,
    )
    assert got == [(1, [1, 2]), (2, [3, 4]), (3, [])]
    assert [p["page"] for p in client.params] == [1, 2, 3]
    # a total that is wrong must not cut the list short
    short, _ = _pages(
        [{"data": [1, 2], "total_count": 1}, {"data": [3, 4], "total_count": 1}, [5], []],
        per_page=2,
    )
    assert short == [(1, [1, 2]), (2, [3, 4]), (3, [5])]


def test_pages_count_from_the_first_page_asked() -> None:
    got, client = _pages([{"data": [5], "total_count": 5}], first_page=3, per_page=2)
    assert got == [(3, [5])]
    assert client.params == [{"page": 3, "per_page": 2}]
    more, _ = _pages(
        [{"data": [5, 6], "total_count": 7}, {"data": [7], "total_count": 7}],
        first_page=3,
        per_page=2,
    )
    assert more == [(3, [5, 6]), (4, [7])]


def test_a_null_or_empty_page_ends_the_list() -> None:
    assert _pages([None])[0] == [(1, None)]
    assert _pages([[]])[0] == [(1, [])]
    assert _pages([[1, 2], None], per_page=2)[0] == [(1, [1, 2]), (2, None)]


def test_a_list_longer_than_a_page_was_sent_whole() -> None:
    got, client = _pages([[1, 2, 3]], per_page=2)
    assert got == [(1, [1, 2, 3])]
    assert len(client.params) == 1


@pytest.mark.parametrize(
    "pages",
    [
        [[1, 2], [1, 2]],  # the service ignores `page`
        [[1, 2], [3, 4], [1, 2]],  # its pages cycle
        [[{"id": 2**70}, {"id": 1}], [{"id": 2**70}, {"id": 1}]],  # beyond orjson's integers
    ],
)
def test_a_page_answered_before_stops_before_it_is_handed_on(pages: list[Any]) -> None:
    client = Pages(pages)
    handed: list[Any] = []
    with pytest.raises(ServiceError) as caught:
        for page in pages_of(client, "/p", per_page=2):  # type: ignore[arg-type]
            handed.append(page)
    assert [items for _, items in handed] == pages[:-1]
    assert str(caught.value) == (
        f"GET /p page {len(pages)}: the service answered a page it had answered before (it "
        "ignores `page`, or its pages cycle); stopped instead of looping"
    )


def test_an_endless_list_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module.settings, "MAX_PAGES", 2)
    client = Pages([[n, n] for n in range(10)])
    handed: list[Any] = []
    with pytest.raises(ServiceError) as caught:
        for page in pages_of(client, "/p", per_page=2):  # type: ignore[arg-type]
            handed.append(page)
    assert [n for n, _ in handed] == [1, 2, 3]
    assert str(caught.value) == "GET /p page 3: more than 2 pages; stopped"


def test_pages_that_differ_only_in_integers_beyond_64_bits_are_different_pages() -> None:
    pages: list[Any] = [[{"id": 2**70}, {"id": 1}], [{"id": 2**71}, {"id": 1}], [{"id": 3}]]
    got, _ = _pages([*pages, []], per_page=2)
    assert [items for _, items in got] == pages
