"""What a misbehaving gateway sends, given to the client's own functions: a Date far from this
machine's clock. End to end, behind a gateway, in tests/source/test_gateway.py (+200 days)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from timetrack.source.client import ApiClient, ClientSettings, _Answer

SKEWED = ["Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 1900 00:00:00 GMT"]


class _Dated:
    """A client whose every attempt is answered `{}` with the given Date."""

    def __init__(self, date: str) -> None:
        self.client = ApiClient(
            "tok", ClientSettings(base_url="https://service.test", requests_per_second=0)
        )
        answer = _Answer(200, {"Date": date}, b"{}", "OK")
        self.client._attempt = lambda *args: answer  # type: ignore[method-assign]


@pytest.mark.parametrize("date", SKEWED)
def test_a_date_past_the_skew_limit_is_not_believed_and_warned_once(date: str) -> None:
    dated = _Dated(date)
    dated.client.get("/me")
    dated.client.get("/me")
    assert dated.client._clock_offset == 0.0, "this machine's clock is used instead"
    assert dated.client.clock_known
    (warning,) = dated.client.stats.warnings
    assert warning.startswith(f"the service's clock (Date: {date}) is ")
    assert warning.endswith(" days from this machine's: this machine's clock is used instead")
    moment = dated.client.now()
    assert abs((moment - datetime.now(UTC)).total_seconds()) < 60, moment
