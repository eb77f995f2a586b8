"""Telegram's two Markdown parse modes, as the fake Bot API checks them.

Both follow tdlib's parsers (``parse_markdown_v2`` and the legacy ``parse_markdown``),
which is what answers the Bot API's ``parse_mode``: they return the visible text (markup
removed, escapes resolved) or raise ``MarkdownError`` with the reason Telegram gives after
"can't parse entities: ". Offsets in those reasons are UTF-8 byte offsets, as Telegram's.

MarkdownV2 reserves ``_*[]()~`>#+-=|{}.!`` everywhere outside ``code``/``pre`` (where only
`````` ` `````` and ``\\`` are special) and outside a link's ``(...)``: a reserved character
that starts no entity must be escaped with ``\\``, or the message is refused. That is
what makes an unescaped price like ``1.5`` fail, and why the bot sends HTML.
"""

from __future__ import annotations

RESERVED_V2 = "_*[]()~`>#+-=|{}.!"


class MarkdownError(ValueError):
    """The reason Telegram gives after "can't parse entities: "."""


def _byte_offset(text: str, pos: int) -> int:
    return len(text[:pos].encode("utf-8", "surrogatepass"))


def _reserved(char: str) -> MarkdownError:
    return MarkdownError(f"Character '{char}' is reserved and must be escaped with the preceding '\\'")


def _char(text: str, pos: int) -> str:
    return text[pos] if pos < len(text) else ""


def _escapable(char: str) -> bool:
    return char != "" and 0 < ord(char) <= 126


def _skip_pre_newline(text: str, i: int) -> int:
    """tdlib drops one line break right after the opening ``` (and its language)."""
    if _char(text, i) in ("\n", "\r"):
        if _char(text, i + 1) in ("\n", "\r") and text[i] != text[i + 1]:
            return i + 2
        return i + 1
    return i


def parse_markdown_v2(text: str) -> str:
    """The visible text of a MarkdownV2 message, or ``MarkdownError`` as Telegram words it."""
    out: list[str] = []
    stack: list[tuple[str, int]] = []  # (entity type, UTF-8 byte offset where it began)
    expandable_quote = False
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "\\" and _escapable(_char(text, i + 1)):
            out.append(text[i + 1])
            i += 2
            continue
        line_start = i == 0 or text[i - 1] == "\n"
        if line_start and not stack:
            # A quote line: ">" (or "**>" opening an expandable quote) at the start of a line.
            if text.startswith("**>", i):
                expandable_quote = True
                i += 3
                continue
            if c == ">":
                i += 1
                continue
        if expandable_quote and not stack and text.startswith("||", i) and _char(text, i + 2) in ("", "\n"):
            expandable_quote = False  # "||" at the end of a line closes an expandable quote
            i += 2
            continue
        inside = stack[-1][0] if stack else None
        reserved = "`" if inside in ("Code", "Pre", "PreCode") else RESERVED_V2
        if c not in reserved:
            out.append(c)
            i += 1
            continue
        if inside is not None and _ends(inside, text, i):
            i = _close_v2(text, i, stack.pop()[0], out)
            continue
        begin = _byte_offset(text, i)
        if c == "_":
            if _char(text, i + 1) == "_":
                stack.append(("Underline", begin))
                i += 2
            else:
                stack.append(("Italic", begin))
                i += 1
        elif c == "*":
            stack.append(("Bold", begin))
            i += 1
        elif c == "~":
            stack.append(("Strikethrough", begin))
            i += 1
        elif c == "|" and _char(text, i + 1) == "|":
            stack.append(("Spoiler", begin))
            i += 2
        elif c == "[":
            stack.append(("TextUrl", begin))
            i += 1
        elif c == "!" and _char(text, i + 1) == "[":
            stack.append(("CustomEmoji", begin))
            i += 2
        elif c == "`" and text.startswith("```", i):
            i += 3
            end = i
            while end < n and not text[end].isspace() and text[end] != "`":
                end += 1
            kind = "Pre"
            if end != i and end < n and text[end] != "`":
                kind, i = "PreCode", end  # the language name is not shown
            stack.append((kind, begin))
            i = _skip_pre_newline(text, i)
        elif c == "`":
            stack.append(("Code", begin))
            i += 1
        else:
            raise _reserved(c)
    if stack:
        kind, begin = stack[-1]
        raise MarkdownError(f"Can't find end of {kind} entity at byte offset {begin}")
    return "".join(out)


def _ends(kind: str, text: str, i: int) -> bool:
    """Whether ``text[i]`` closes the innermost open entity (tdlib's rules)."""
    c, after = text[i], _char(text, i + 1)
    match kind:
        case "Bold":
            return c == "*"
        case "Italic":
            return c == "_" and after != "_"
        case "Underline":
            return c == "_" and after == "_"
        case "Strikethrough":
            return c == "~"
        case "Spoiler":
            return c == "|" and after == "|"
        case "Code":
            return c == "`"
        case "Pre" | "PreCode":
            return text.startswith("```", i)
        case _:  # TextUrl, CustomEmoji
            return c == "]"


def _close_v2(text: str, i: int, kind: str, out: list[str]) -> int:
    """Skip the closing markup at ``text[i]``; return where parsing continues."""
    if kind in ("Underline", "Spoiler"):
        return i + 2
    if kind in ("Pre", "PreCode"):
        return i + 3
    if kind not in ("TextUrl", "CustomEmoji"):
        return i + 1
    i += 1  # past "]"
    if _char(text, i) != "(":
        if kind == "CustomEmoji":
            raise MarkdownError("Custom emoji entity must contain a tg://emoji URL")
        return i  # "[text]" alone: the text is the URL
    begin = i + 1
    i = begin
    while i < len(text) and text[i] != ")":
        i += 2 if text[i] == "\\" and _escapable(_char(text, i + 1)) else 1
    if i >= len(text):
        raise MarkdownError(f"Can't find end of a URL at byte offset {_byte_offset(text, begin)}")
    return i + 1


def parse_markdown(text: str) -> str:
    """The visible text of a legacy Markdown message, or ``MarkdownError`` as Telegram words it.

    Only ``_``, ``*``, `````` ` `````` and ``[`` are markup; ``\\`` escapes them outside
    entities; an entity runs to its first closing character, with nothing nested.
    """
    out: list[str] = []
    n = len(text)
    i = 0
    while i < n:
        c = text[i]
        if c == "\\" and _char(text, i + 1) in ("_", "*", "`", "["):
            out.append(text[i + 1])
            i += 2
            continue
        if c not in "_*`[":
            out.append(c)
            i += 1
            continue
        begin = i
        end_char = "]" if c == "[" else c
        i += 1
        is_pre = c == "`" and text.startswith("``", i)
        if is_pre:
            i += 2
            end = i
            while end < n and not text[end].isspace() and text[end] != "`":
                end += 1
            if end != i and end < n and text[end] != "`":
                i = end
            i = _skip_pre_newline(text, i)
        while i < n and (text[i] != end_char or (is_pre and not text.startswith("```", i))):
            out.append(text[i])
            i += 1
        if i >= n:
            raise MarkdownError(
                f"Can't find end of the entity starting at byte offset {_byte_offset(text, begin)}"
            )
        i += 3 if is_pre else 1
        if c == "[" and _char(text, i) == "(":
            close = text.find(")", i + 1)
            i = n if close < 0 else close + 1
    return "".join(out)


__all__ = ["RESERVED_V2", "MarkdownError", "parse_markdown", "parse_markdown_v2"]
