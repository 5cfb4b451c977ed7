"""A 402 that says the quota is spent but gives no usable reset, given to the client's own
functions: every spelling stops at once, as a spent quota (never a feature missing from the
plan), without a wait or another request. End to end, in a whole run: a reset of `inf` in
tests/source/test_hostile.py, no reset header in tests/source/test_hostile_shapes.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from timetrack.errors import QuotaExhaustedError
from timetrack.source.client import ApiClient, ClientSettings, _Answer

SPENT = {"X-Quota-Remaining": "0"}


class _Spent:
    """A client whose every attempt is answered 402 with `headers`; `sent` and `slept` note
    its attempts and waits."""

    def __init__(self, headers: dict[str, str]) -> None:
        self.sent: list[str] = []
        self.slept: list[float] = []
        self.client = ApiClient(
            "tok",
            ClientSettings(base_url="https://service.test", requests_per_second=0),
            sleep=self.slept.append,
        )
        answer = _Answer(402, headers, b'"You have hit your hourly limit"', "Payment Required")

        def attempt(method: str, url: str, params: Mapping[str, Any] | None, json: Any) -> _Answer:
            self.sent.append(url)
            return answer

        self.client._attempt = attempt  # type: ignore[method-assign]


@pytest.mark.parametrize("reset", ["inf", "1e308", "864000"])
def test_a_reset_that_never_comes_stops_at_once_and_says_run_again_in_an_hour(reset: str) -> None:
    spent = _Spent(SPENT | {"X-Quota-Resets-In": reset})
    with pytest.raises(QuotaExhaustedError) as caught:
        spent.client.get("/workspaces/1/clients")
    assert str(caught.value) == (
        "the hourly API quota is spent (/v1/workspaces/1/clients) and the service gave no "
        "usable reset time: run again in an hour"
    )
    assert caught.value.resets_in == 3600
    assert spent.sent == ["https://service.test/v1/workspaces/1/clients"], "asked once"
    assert spent.slept == [], "not waited for"


@pytest.mark.parametrize("reset", [None, "soon", "nan"])
def test_no_readable_reset_is_taken_for_an_hour_and_stops_at_once(reset: str | None) -> None:
    spent = _Spent(SPENT | ({} if reset is None else {"X-Quota-Resets-In": reset}))
    with pytest.raises(QuotaExhaustedError) as caught:
        spent.client.get("/workspaces/1/clients")
    message = str(caught.value)
    assert message.startswith(
        "the hourly API quota is spent (/v1/workspaces/1/clients); it resets in 60 min: "
        "run again after "
    ), message
    assert caught.value.resets_in == 3600
    assert spent.sent == ["https://service.test/v1/workspaces/1/clients"], "asked once"
    assert spent.slept == [], "an hour is beyond the longest wait: not waited for"
