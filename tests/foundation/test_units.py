"""The one duration/size parser (infersight._units) and every CLI option that takes one."""

from __future__ import annotations

import pytest

from infersight import BadArgumentError
from infersight._units import is_duration, parse_duration, parse_duration_ns, parse_size


@pytest.mark.parametrize("text,seconds", [("7d", 604800), ("12h", 43200), ("30m", 1800), ("45", 45),
                                          ("2w", 1209600), ("1W", 604800), ("250ms", 0.25), ("1.5h", 5400),
                                          (" 90s ", 90), (2.5, 2.5)])
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)
    assert parse_duration_ns(text) == round(seconds * 1e9)


@pytest.mark.parametrize("text,size", [("64MiB", 64 << 20), ("10GB", 10**10), ("512k", 512_000),
                                       ("1048576", 1 << 20), ("4mib", 4 << 20), (1024, 1024)])
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("bad", ["", "lots", "-1d", "0", "7 days", "1y", "0ms"])
def test_bad_values_are_bad_arguments(bad: str) -> None:
    with pytest.raises(BadArgumentError):
        parse_duration(bad)
    with pytest.raises(BadArgumentError):
        parse_size(bad)


def test_each_part_gets_its_own_bad_argument_class() -> None:
    from infersight.collectors import CollectorConfigError

    with pytest.raises(CollectorConfigError, match="--retention"):
        parse_duration("forever", error=CollectorConfigError, what="--retention")
    assert issubclass(CollectorConfigError, BadArgumentError) and issubclass(CollectorConfigError, ValueError)


def test_durations_and_iso_times_are_told_apart() -> None:
    assert is_duration("30m") and is_duration("250ms") and is_duration("1w")
    assert not is_duration("2026-01-31T12:00:00Z")
