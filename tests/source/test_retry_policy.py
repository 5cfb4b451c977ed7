"""The retry policy as plain functions: what each answer means, how long to wait. No server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from timetrack.errors import (
    AccessDeniedError,
    ApiError,
    AuthenticationError,
    FeatureNotOnPlanError,
    NotFoundError,
)
from timetrack.source.client import (
    Done,
    Fail,
    Retry,
    WaitForQuota,
    backoff,
    classify,
    delay_seconds,
    is_list_or_null,
    parse_json,
    quota_message,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _classify(status: int, body: bytes = b"", **headers: str) -> object:
    return classify("GET", "/v1/x", status, headers, body)


def test_a_good_answer_is_done_with_its_json() -> None:
    assert _classify(200, b'{"data": [1, 2]}') == Done({"data": [1, 2]})
    assert _classify(200, b"null") == Done(None)


@pytest.mark.parametrize("body", [b"", b"  \r\n", b" \r\n\t"])
def test_an_empty_body_is_no_null_but_a_broken_answer(body: bytes) -> None:
    assert _classify(200, body) == Retry("an empty body")
    assert _classify(204, body) == Retry("an empty body")


@pytest.mark.parametrize(
    "body", [b'{"data": [1', b"<html>busy</html>", b"\x00\x01", b"[1, 2", b'{"data": ']
)
def test_a_truncated_or_foreign_body_is_retried(body: bytes) -> None:
    assert _classify(200, body) == Retry("a truncated or non-JSON body")


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_the_guides_statuses_are_retried_with_retry_after(status: int) -> None:
    assert _classify(status) == Retry(f"HTTP {status}", None)
    assert _classify(status, **{"Retry-After": "7"}) == Retry(f"HTTP {status}", 7.0)


def test_a_402_with_quota_headers_waits_for_the_reset() -> None:
    decision = _classify(402, b'"limit"', **{"X-Quota-Remaining": "0", "X-Quota-Resets-In": "90"})
    assert decision == WaitForQuota(90.0)
    branded = _classify(402, **{"X-Brand-Quota-Resets-In": "5"})
    assert branded == WaitForQuota(5.0), "the service prefixes the headers with its brand"


@pytest.mark.parametrize("reset", [None, "soon", "nan"])
def test_a_402_that_says_the_quota_is_spent_without_a_usable_reset_waits_an_hour(
    reset: str | None,
) -> None:
    headers = {"X-Brand-Quota-Remaining": "0"} | (
        {} if reset is None else {"X-Quota-Resets-In": reset}
    )
    assert _classify(402, b'"limit"', **headers) == WaitForQuota(3600.0)


def test_a_body_orjson_refuses_is_read_by_the_standard_parser() -> None:
    body = (
        b'{"a": "x\\ud83dy", "b": "\\ud83d\\ude00", "c": 1e400, "d": [NaN, 1.5], "\\udc00": -1e999}'
    )
    assert _classify(200, body) == Done(
        {"a": "x\ufffdy", "b": "\U0001f600", "c": "1e400", "d": ["NaN", 1.5], "\ufffd": "-1e999"}
    )
    assert parse_json(b"[2.5]") == [2.5]


@pytest.mark.parametrize("body", [b'"\xff\xfe"', b'{"a": "\\ud83d"'])
def test_a_body_neither_parser_reads_is_retried(body: bytes) -> None:
    assert _classify(200, body) == Retry("a truncated or non-JSON body")
    with pytest.raises(ValueError):
        parse_json(body)


def test_a_plain_402_is_a_feature_not_on_the_plan() -> None:
    decision = _classify(402, b'"not on your plan"')
    assert isinstance(decision, Fail) and isinstance(decision.error, FeatureNotOnPlanError)
    assert "not on your plan" in str(decision.error)


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, b"", AuthenticationError),
        (403, b'"Incorrect username and/or password"', AuthenticationError),
        (403, b'"User does not have access to this resource."', AccessDeniedError),
        (404, b'"Invalid workspace ID"', NotFoundError),
        (400, b'"bad"', ApiError),
    ],
)
def test_other_errors_fail_with_their_kind(status: int, body: bytes, kind: type) -> None:
    decision = _classify(status, body)
    assert isinstance(decision, Fail) and type(decision.error) is kind
    assert decision.error.status == status


def test_backoff_is_two_four_eight_unless_the_service_says_otherwise() -> None:
    assert [backoff(n, 2.0, None, 300) for n in (1, 2, 3)] == [2.0, 4.0, 8.0]
    assert backoff(2, 2.0, 30.0, 300) == 30.0
    assert backoff(1, 2.0, 10_000.0, 300) == 300, "capped"


def test_retry_after_as_a_future_http_date() -> None:
    later = format_datetime(NOW + timedelta(seconds=42), usegmt=True)
    assert delay_seconds(later, NOW) == 42.0
    assert delay_seconds(format_datetime(NOW - timedelta(hours=1), usegmt=True), NOW) == 0.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [("7", 7.0), ("-3", 0.0), ("soon", None), (None, None), ("nan", None), ("inf", float("inf"))],
)
def test_delay_seconds_reads_numbers_and_refuses_nonsense(
    value: str | None, expected: float | None
) -> None:
    assert delay_seconds(value, NOW) == expected


@pytest.mark.parametrize("resets", [float("inf"), 1e308, 10 * 86400.0])
def test_an_unusable_reset_gives_the_quota_message_not_an_overflow(resets: float) -> None:
    error = quota_message("/v1/x", resets, NOW)
    assert "hourly API quota is spent" in str(error) and "run again in an hour" in str(error)
    assert error.resets_in == 3600


def test_a_usable_reset_says_when_to_run_again() -> None:
    error = quota_message("/v1/x", 119.5, NOW)
    assert "resets in 2 min" in str(error) and "run again after 12:01 UTC" in str(error)
    assert error.resets_in == 120


@pytest.mark.parametrize(
    ("payload", "fits"),
    [
        ([], True),
        (None, True),
        ([{"id": 1}], True),
        ({"data": None, "total_count": 0}, False),
        ({"data": [{"id": 1}]}, False),
        ({}, False),
        ({"items": []}, False),
        ("nothing", False),
        (0, False),
    ],
)
def test_what_counts_as_a_list_answer(payload: object, fits: bool) -> None:
    assert is_list_or_null(payload) is fits
