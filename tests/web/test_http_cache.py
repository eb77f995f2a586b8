"""Which clients get gzip, and which validator each encoding has."""

from __future__ import annotations

import pytest

from bot.web.http_cache import accepts_gzip, etag_of, gzip_etag


@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        (None, False),
        ("", False),
        ("identity", False),
        ("br", False),
        ("gzip", True),
        ("GZIP", True),
        ("deflate, gzip;q=0.5", True),
        ("gzip;q=0", False),
        ("gzip; q=0.0, identity", False),
        ("*", True),
        ("x-gzip", True),
        ("gzip;q=nonsense", False),
        # The named coding decides over ``*``, whichever comes first.
        ("*;q=0, gzip", True),
        ("gzip;q=0, *", False),
        ("*, gzip;q=0", False),
        ("identity;q=1, *;q=0", False),
        ("br, *;q=0.1", True),
        ("gzip;q=1.5", False),
        ("gzip;q=-1", False),
        ("gzip ; q=0.001", True),
        ("x-gzip;q=0, gzip", True),
        ("gzip;level=1;q=0", False),
    ],
)
def test_gzip_is_sent_only_to_a_client_that_accepts_it(header: str | None, accepted: bool) -> None:
    assert accepts_gzip(header) is accepted


def test_each_encoding_has_its_own_strong_etag() -> None:
    tag = etag_of(b"body")
    zipped = gzip_etag(tag)
    assert zipped != tag
    assert zipped.startswith('"') and zipped.endswith('-gz"')
    assert not zipped.startswith("W/")
