"""Split long text into messages a chat platform accepts (Telegram 4,096, Discord 2,000 characters).

Splits at line boundaries so tables stay whole rows; only a single line longer than the
limit is cut, at the last space before the limit when there is one.
"""

from __future__ import annotations


def split_lines(text: str, limit: int) -> list[str]:
    """``text`` as consecutive pieces of at most ``limit`` characters, split between lines.

    Joining the pieces with newlines gives back ``text`` except where an over-long line
    had to be cut (the cut drops no characters, it only adds a line break).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in _short_lines(text.split("\n"), limit):
        added = len(line) + (1 if current else 0)
        if current and size + added > limit:
            pieces.append("\n".join(current))
            current, size = [], 0
            added = len(line)
        current.append(line)
        size += added
    if current:
        pieces.append("\n".join(current))
    return pieces or [""]


def _short_lines(lines: list[str], limit: int) -> list[str]:
    out: list[str] = []
    for line in lines:
        while len(line) > limit:
            cut = line.rfind(" ", 1, limit + 1)
            if cut <= 0:
                cut = limit
            out.append(line[:cut])
            line = line[cut:]
        out.append(line)
    return out
