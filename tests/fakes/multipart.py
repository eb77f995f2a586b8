"""multipart/form-data (RFC 7578) parsed from a whole body, for the fake servers.

aiohttp's streaming multipart reader calls its deprecated ``StreamReader.unread_data()``
when a read returns less than a boundary and the next one more than its chunk size: a
``DeprecationWarning`` (an error under ``-W error``) that depends on how the upload happened
to arrive over TCP. Reading the body whole (``await request.read()``) and parsing it here
leaves nothing to chance.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message as MimeHeaders


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


@dataclass(frozen=True)
class FormPart:
    name: str
    filename: str | None  # set for a file upload
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


def parse_form_data(body: bytes, content_type: str) -> list[FormPart]:
    """The parts of a whole multipart/form-data ``body``, in order; ``content_type`` is the
    request's Content-Type header (with its boundary)."""
    header = MimeHeaders()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str) or not boundary:
        raise MultipartError("no boundary in the Content-Type")
    # Every delimiter, the first included, is CRLF "--" boundary; the last one ends in "--".
    sections = (b"\r\n" + body).split(b"\r\n--" + boundary.encode("latin-1"))
    if len(sections) < 3 or not sections[-1].startswith(b"--"):
        raise MultipartError("no closing delimiter")
    parts: list[FormPart] = []
    for section in sections[1:-1]:
        padding, newline, rest = section.partition(b"\r\n")
        if not newline or padding.strip(b" \t"):
            raise MultipartError("text after a delimiter")
        if rest.startswith(b"\r\n"):
            head, content = b"", rest[2:]
        else:
            head, separator, content = rest.partition(b"\r\n\r\n")
            if not separator:
                raise MultipartError("a part's headers do not end")
        headers = MimeHeaders()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, colon, value = line.partition(":")
            if colon:
                headers[name.strip()] = value.strip()
        field = headers.get_param("name", header="content-disposition")
        if not isinstance(field, str) or not field:
            raise MultipartError("a part without a name")
        parts.append(FormPart(field, headers.get_filename(), content))
    return parts


__all__ = ["FormPart", "MultipartError", "parse_form_data"]
