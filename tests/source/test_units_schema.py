"""Record to row, piece by piece: timestamps, days, keys, secrets, aliases, hints. No server.

Every expectation is a literal worked out by hand from the contract, never read from the code.
"""

from __future__ import annotations

import pytest

from timetrack.source.schema import Rejected, as_key, converter


@pytest.mark.parametrize("value", ["--1", "-", "²", "1²", " -- 3 "])
def test_a_key_int_cannot_read_is_none_not_an_error(value: str) -> None:
    # str.isdigit takes "²" for a digit and lstrip("-") took "--1" for "1": int() then raised,
    # and the record crashed the load instead of going to rejected_records.
    assert as_key(value) is None
    with pytest.raises(Rejected) as caught:
        converter("workspace_tags", "id")({"id": value})
    assert caught.value.key == value
