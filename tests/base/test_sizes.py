"""Sizes typed and shown: one unit family (binary), and a bare number is never bytes by accident."""

from __future__ import annotations

import pytest

from llamacli.base.sizes import parse_size
from llamacli.errors import InvalidValue
from llamacli.sizing import fit

GIB, MIB = 2**30, 2**20


@pytest.mark.parametrize(
    ("typed", "size"),
    [
        ("8", 8 * GIB),  # was 8 bytes: "Budget 0 MiB usable"
        ("1.5", int(1.5 * GIB)),
        ("8G", 8 * GIB),
        ("8g", 8 * GIB),
        ("8GB", 8 * GIB),
        ("8GiB", 8 * GIB),
        ("8 GiB", 8 * GIB),
        ("512M", 512 * MIB),
        ("512MiB", 512 * MIB),
        ("64K", 64 * 1024),
        ("1T", 1024 * GIB),
        ("100B", 100),
        ("4000000000B", 4_000_000_000),
    ],
)
def test_sizes_as_people_type_them(typed: str, size: int) -> None:
    assert parse_size(typed) == size


def test_the_environment_reads_sizes_the_same_way() -> None:
    assert fit.memory_budget({"LLAMACLI_MEMORY": "8"}) == 8 * GIB
    assert fit.memory_budget({"LLAMACLI_MEMORY": "8G"}) == 8 * GIB


@pytest.mark.parametrize(("typed", "message"), [("lots", "must be a size"), ("0", "more than zero"), ("8X", "size")])
def test_what_is_not_a_size_is_refused(typed: str, message: str) -> None:
    with pytest.raises(InvalidValue, match=message):
        parse_size(typed)


def test_every_size_is_shown_in_binary_units() -> None:
    from llamacli.base.sizes import format_size

    assert format_size(98_362_432) == "94 MiB"  # the bundled model's file
    assert format_size(807_694_464) == "770 MiB"
    assert format_size(4_920_739_232) == "4.6 GiB"
    assert format_size(2_000_000) == "2 MiB"
    assert format_size(64 * 1024) == "64 KiB"
    assert format_size(900) == "900 B"


def test_parameter_counts_are_counts() -> None:
    from llamacli.base.sizes import format_parameters

    assert (format_parameters(134_515_008), format_parameters(1_235_814_400), format_parameters(None)) == (
        "135M",
        "1.2B",
        "-",
    )
