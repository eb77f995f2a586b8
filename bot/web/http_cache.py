"""ETag and Cache-Control: a client that has the current body gets a bodiless 304."""

from __future__ import annotations

import hashlib
import re

from starlette.requests import Request
from starlette.responses import Response

REVALIDATE = "no-cache"
"""May be stored, but must be revalidated (a cheap 304) before each use: data changes each cycle."""


def etag_of(body: bytes) -> str:
    """A strong validator of the exact bytes."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def gzip_etag(tag: str) -> str:
    """The validator of the gzip encoding of the body tagged ``tag``: another representation,
    so another strong ETag (a 304 must never answer one encoding's tag with the other's)."""
    return tag[:-1] + '-gz"'


_QVALUE = re.compile(r"0(\.[0-9]{0,3})?|1(\.0{0,3})?")
"""RFC 9110 12.4.2: a weight is 0 to 1 with at most three decimals."""


def _weight(params: list[str]) -> float:
    """The ``q`` of one coding's parameters (1 when absent; 0 when malformed: not accepted)."""
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "q":
            value = value.strip()
            return float(value) if _QVALUE.fullmatch(value) else 0.0
    return 1.0


def accepts_gzip(header: str | None) -> bool:
    """Whether an ``Accept-Encoding`` header accepts gzip (RFC 9110 12.5.3).

    The coding named (``gzip`` or its alias ``x-gzip``) decides over ``*``, wherever each
    stands in the list: ``*;q=0, gzip`` accepts it and ``gzip;q=0, *`` refuses it. A weight
    of 0 refuses.
    """
    if not header:
        return False
    named: float | None = None
    anything: float | None = None
    for part in header.lower().split(","):
        coding, *params = part.split(";")
        coding = coding.strip()
        if coding in ("gzip", "x-gzip"):
            named = max(named or 0.0, _weight(params))
        elif coding == "*":
            anything = _weight(params)
    if named is not None:
        return named > 0
    return anything is not None and anything > 0


def _matches(header: str | None, tag: str) -> bool:
    if header is None:
        return False
    if header.strip() == "*":
        return True
    # Weak comparison (RFC 9110 13.1.2): a W/ prefix added by a proxy still matches.
    return any(part.strip().removeprefix("W/") == tag for part in header.split(","))


def cached_response(
    request: Request,
    body: bytes,
    media_type: str,
    *,
    status: int = 200,
    cache_control: str = REVALIDATE,
    private: bool = False,
) -> Response:
    """``body`` with its ETag, or 304 when the request already holds it."""
    return tagged_response(
        request, body, etag_of(body), media_type, status=status, cache_control=cache_control, private=private
    )


def tagged_response(
    request: Request,
    body: bytes,
    tag: str,
    media_type: str,
    *,
    status: int = 200,
    cache_control: str = REVALIDATE,
    private: bool = False,
) -> Response:
    """``cached_response`` for a body whose ETag (``etag_of(body)``) was computed before."""
    control = f"private, {cache_control}" if private else cache_control
    headers = {"ETag": tag, "Cache-Control": control}
    if status == 200 and _matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    return Response(body, status_code=status, media_type=media_type, headers=headers)


def encoded_response(
    request: Request,
    body: bytes,
    tag: str,
    gzipped: bytes | None,
    gzipped_tag: str,
    media_type: str,
    *,
    private: bool = False,
) -> Response:
    """``tagged_response`` of a body kept with its gzip encoding (``None``: none): the gzip
    one, with its own ETag, when the client accepts it. The answer varies by
    ``Accept-Encoding`` whenever an encoding exists, so a shared cache keeps both apart."""
    if gzipped is None:
        return tagged_response(request, body, tag, media_type, private=private)
    if accepts_gzip(request.headers.get("accept-encoding")):
        response = tagged_response(request, gzipped, gzipped_tag, media_type, private=private)
        if response.status_code == 200:
            response.headers["Content-Encoding"] = "gzip"
    else:
        response = tagged_response(request, body, tag, media_type, private=private)
    response.headers["Vary"] = "Accept-Encoding"
    return response
