"""Answers the client does not take at their word (`classify`: an empty or truncated body, a
redirect) and the share of each hourly quota a run may spend (`ApiClient._note_share`,
`_check_go_on`), on the scripted transport of test_units_client. Expectations are literals."""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta

import pytest
import requests

from tests.source.test_units_client import NOW, Scripted, _answer, _date, _Frozen
from timetrack.errors import ApiError, ConfigurationError, QuotaExhaustedError, ServiceError
from timetrack.source import client as client_module
from timetrack.source import settings
from timetrack.source.client import (
    ApiClient,
    ClientSettings,
    Fail,
    WaitForQuota,
    _TooLarge,
    classify,
    parse_json,
)


def _classify(status: int, body: bytes = b"", **headers: str) -> object:
    return classify("GET", "/v1/x", status, headers, body, NOW)


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed(status: int) -> None:
    decision = _classify(status, b"", Location="https://elsewhere.test/v1/x")
    assert isinstance(decision, Fail) and type(decision.error) is ApiError
    assert str(decision.error) == (
        f"GET /v1/x was redirected (HTTP {status}) to https://elsewhere.test/v1/x: base_url "
        "must be the service's own address (set it to where this points, if that is the "
        "service)"
    )
    assert decision.error.status == status


def test_a_redirects_location_is_shown_printable_and_cut() -> None:
    decision = _classify(302, b"", Location="https://x.test/\x1b[2J" + "a" * 300)
    assert isinstance(decision, Fail)
    assert f"to https://x.test/[2J{'a' * 182}: base_url" in str(decision.error)


@pytest.mark.parametrize("status", [301, 304, 309])
def test_a_redirect_without_a_location_or_another_3xx_is_an_error(status: int) -> None:
    location = {"Location": "https://x.test"} if status != 301 else {}
    decision = _classify(status, b'"moved"', **location)
    assert isinstance(decision, Fail)
    assert str(decision.error) == f"GET /v1/x failed with HTTP {status}: moved"


def test_a_402_with_quota_headers_waits_for_the_quota() -> None:
    assert _classify(402, b"", **{"X-Quota-Resets-In": "120"}) == WaitForQuota(120.0)
    # a reset missing or unreadable: the window slides over an hour
    reset = WaitForQuota(settings.QUOTA_WINDOW_SECONDS)
    assert _classify(402, b"", **{"X-Quota-Remaining": "0"}) == reset
    assert _classify(402, b"", **{"X-Quota-Remaining": "0", "X-Quota-Resets-In": "soon"}) == reset


# --- the share of the quota ----------------------------------------------------------------------


def _left(remaining: int) -> object:
    return _answer(body=b"[]", **{"X-Quota-Remaining": str(remaining)})


def test_a_run_spends_its_share_of_what_was_left_then_stops_that_window() -> None:
    # 10 left before the first request, half of them (and of that first one): 5.
    s = Scripted([_left(10), _left(100)], quota_share=0.5)
    for _ in range(5):
        assert s.client.get("/me") == []
    with pytest.raises(QuotaExhaustedError) as caught:
        s.client.get("/me/workspaces")
    assert str(caught.value) == (
        "this run spent its share of the hourly quota (me: 5 requests, 50% of what was left; "
        "quota_share sets it): what it read is saved, and the next run goes on from there"
    )
    assert caught.value.resets_in == 0
    assert len(s.sent) == 5
    assert s.client.stats.quota_stops == {"me": caught.value}
    # Another window has its own share.
    s.client.organization_of[9] = 4
    assert s.client.get("/workspaces/9/tags") == []
    assert s.client._spent == {"me": 5, "org:4": 1}
    assert s.client._allowed == {"me": 5, "org:4": 50}


def test_the_share_is_set_by_the_first_answer_that_tells_it() -> None:
    s = Scripted([_answer(body=b"[]"), _left(0)], quota_share=0.3)
    s.client.get("/me")
    assert s.client._allowed == {}
    s.client.get("/me")
    # nothing was left: the requests already spent are the share
    assert s.client._allowed == {"me": 2}
    with pytest.raises(QuotaExhaustedError):
        s.client.get("/me")
    assert len(s.sent) == 2


def test_a_whole_share_or_an_unknown_window_counts_nothing() -> None:
    s = Scripted([_left(0)], quota_share=1.0)
    for _ in range(3):
        s.client.get("/me")
    assert s.client._spent == {} and s.client._allowed == {}
    s = Scripted([_left(0)], quota_share=0.5)
    for _ in range(3):
        s.client.get("/workspaces/9/tags")  # no organization known for it
    assert s.client._spent == {} and s.client._allowed == {}
    assert len(s.sent) == 3


def test_an_answer_outside_2xx_spends_no_share() -> None:
    s = Scripted([_answer(300, b'"multiple"', **{"X-Quota-Remaining": "10"})], quota_share=0.5)
    with pytest.raises(ApiError):
        s.client.get("/me")
    assert s.client._spent == {} and s.client._allowed == {}


# --- settings and bodies -------------------------------------------------------------------------


def test_plain_http_to_another_machine_is_refused_unless_allowed() -> None:
    with pytest.raises(ConfigurationError) as refused:
        ClientSettings(base_url="http://service.test").validate()
    assert str(refused.value) == (
        "base_url http://service.test is plain http:// to another machine: the token would "
        "cross the network in clear; use https://, or --allow-insecure-http "
        "(allow_insecure_http = true) if you must"
    )
    ClientSettings(base_url="http://service.test", allow_insecure_http=True).validate()
    ClientSettings(base_url="http://127.0.0.1:8080").validate()
    ClientSettings(base_url="https://service.test").validate()


@pytest.mark.parametrize(
    ("answer_bytes", "skew", "refused"),
    [(0, 0.0, True), (-1, 10.0, True), (1, -1.0, True), (1, 0.0, False), (1, 0.5, False)],
)
def test_the_answer_cap_and_clock_skew_must_be_positive(
    answer_bytes: int, skew: float, refused: bool
) -> None:
    settings_ = ClientSettings(
        base_url="https://service.test", max_answer_bytes=answer_bytes, max_clock_skew=skew
    )
    if not refused:
        settings_.validate()
        return
    with pytest.raises(ConfigurationError) as caught:
        settings_.validate()
    assert str(caught.value) == "max_answer_mb and max_clock_skew_days must be positive"


def test_numbers_and_text_python_cannot_hold_as_they_are_are_kept() -> None:
    assert parse_json(b'[1e400, -1e400, 1.5, NaN, Infinity, "\\ud83d"]') == [
        "1e400",
        "-1e400",
        1.5,
        "NaN",
        "Infinity",
        "\ufffd",
    ]
    with pytest.raises(ValueError):
        parse_json(b'["\xff", 1e400]')


def test_a_clock_too_far_from_ours_is_ignored_with_one_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client_module, "datetime", _Frozen)
    skew = 86400.0
    far = _answer(body=b"{}", Date=_date(NOW + timedelta(days=1, seconds=1)))
    s = Scripted([far], max_clock_skew=skew)
    s.client.get("/x")
    s.client.get("/x")
    assert s.client._clock_offset == 0.0
    assert s.client.stats.warnings == [
        "the service's clock (Date: Sat, 28 Nov 2026 12:00:01 GMT) is 1.0 days from this "
        "machine's: this machine's clock is used instead"
    ]
    # exactly the skew allowed is followed
    edge = Scripted([_answer(body=b"{}", Date=_date(NOW + timedelta(days=1)))], max_clock_skew=skew)
    edge.client.get("/x")
    assert edge.client._clock_offset == skew
    assert edge.client.stats.warnings == []


def test_an_answer_over_the_cap_fails_its_request_unread_and_says_how_to_raise_it() -> None:
    s = Scripted([_answer()], max_answer_bytes=512 * 1024)

    def too_large(*args: object) -> None:
        s.sent.append(args)  # type: ignore[arg-type]
        raise _TooLarge(3 * 1024 * 1024)

    s.client._attempt = too_large  # type: ignore[assignment,method-assign]
    with pytest.raises(ServiceError) as caught:
        s.client.get("/workspaces/9/tags")
    assert str(caught.value) == (
        "GET /v1/workspaces/9/tags: the answer is larger than 0.5 MB and was not read; if it is "
        "genuine, raise the cap (--max-answer-mb, or max_answer_mb under [sources.timetrack])"
    )
    assert s.client.stats.by_status == {"too large": 1}
    assert len(s.sent) == 1, "not asked again"


class _Unread(io.BytesIO):
    """A body that must not be read."""

    def read(self, *args: object, **kwargs: object) -> bytes:
        raise AssertionError("a body declared over the cap is not read")


def _response(body: bytes, **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response.headers.update(headers)
    response.raw = io.BytesIO(body)
    return response


def _reader(cap: int) -> ApiClient:
    return ApiClient("tok", ClientSettings(base_url="https://service.test", max_answer_bytes=cap))


def test_a_body_up_to_the_cap_is_read_whole_in_chunks() -> None:
    body = bytes(range(256)) * 300  # 76,800 bytes: two chunks of the reader's 65,536
    assert _reader(len(body))._read(_response(body)) == body, "exactly the cap"
    declared = _response(body, **{"Content-Length": str(len(body))})
    assert _reader(len(body))._read(declared) == body, "declared at the cap"
    odd = _response(body, **{"Content-Length": "about 70 kB"})
    assert _reader(len(body))._read(odd) == body, "a length that is not a number is not trusted"
    assert _reader(1)._read(_response(b"")) == b""


def test_a_body_over_the_cap_stops_at_the_chunk_that_crosses_it() -> None:
    body = b"x" * 140_000
    with pytest.raises(_TooLarge) as streamed:
        _reader(70_000)._read(_response(body))
    assert streamed.value.args == (131_072,), "two chunks of 65,536 read, then no more"
    with pytest.raises(_TooLarge) as one_over:
        _reader(9)._read(_response(b"0123456789"))
    assert one_over.value.args == (10,)


def test_a_body_declared_over_the_cap_is_refused_unread() -> None:
    response = _response(b"", **{"Content-Length": "1001"})
    response.raw = _Unread()
    with pytest.raises(_TooLarge) as declared:
        _reader(1000)._read(response)
    assert declared.value.args == (1001,)


def test_lone_surrogates_are_replaced_in_nested_keys_and_values_alike() -> None:
    body = b'{"a\\ud800": {"k\\udfff": ["v\\ud83d", 1]}, "ok": "\\ud83d\\ude00"}'
    assert parse_json(body) == {"a\ufffd": {"k\ufffd": ["v\ufffd", 1]}, "ok": "\U0001f600"}


def test_the_token_fingerprint_is_sixteen_hex_digits_of_a_salted_hash() -> None:
    fingerprint = ApiClient(
        "tok", ClientSettings(base_url="https://service.test")
    ).token_fingerprint
    assert fingerprint == hashlib.sha256(b"timetrack:tok").hexdigest()[:16]
    assert len(fingerprint) == 16 and "tok" not in fingerprint
