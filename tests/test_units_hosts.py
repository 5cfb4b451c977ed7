"""Which hosts are this machine (timetrack.hosts.is_loopback): names and addresses in any case,
with brackets, spaces or a final dot, and nothing else."""

from __future__ import annotations

import pytest

from timetrack.hosts import is_loopback


@pytest.mark.parametrize(
    "host",
    ["localhost", " LocalHost. ", "127.0.0.1", "127.8.9.10", "127.0.0.1.", "::1", "[::1]", " ::1 "],
)
def test_this_machine(host: str) -> None:
    assert is_loopback(host) is True


@pytest.mark.parametrize(
    "host", ["", "example.com", "localhost.example", "10.0.0.1", "128.0.0.1", "::2", "[::2]"]
)
def test_another_machine(host: str) -> None:
    assert is_loopback(host) is False
