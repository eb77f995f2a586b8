"""What Discord refuses, as the fake Discord (``tests.fakes.discord_api``) refuses it.

Each check returns Discord's error body, or None when the payload is acceptable. The
limits are Discord's documented ones (application commands, messages and embeds); a
form error has Discord's shape: ``{"code": 50035, "errors": {...}, "message": "Invalid
Form Body"}``, where ``errors`` nests by the path to the bad field (list indexes as
strings) and ends in ``{"_errors": [{"code": ..., "message": ...}]}``. discord.py
flattens that into ``HTTPException.text`` ("In embeds.0.title: Must be 256 or fewer in
length.").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

# --- application commands (PUT /applications/{id}/commands) ---------------------------
# ``[-_\p{L}\p{N}]``: ``\w`` is letters, digits and ``_`` in Python's Unicode regexes.
COMMAND_NAME = re.compile(r"^[-\w]{1,32}$")
DESCRIPTION_MAX = 100
OPTIONS_MAX = 25
CHOICES_MAX = 25
CHOICE_NAME_MAX = 100
CHOICE_VALUE_MAX = 100
GLOBAL_COMMANDS_MAX = 100
COMMAND_CHARS_MAX = 4000
"""Name, description and choice names and values of a command and all its options."""
CHAT_INPUT = 1
SUBCOMMAND_TYPES = (1, 2)  # option types that carry options of their own

# --- messages and embeds -----------------------------------------------------------------
CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TOTAL_MAX = 6000
TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
AUTHOR_NAME_MAX = 256
AUTOCOMPLETE_CHOICES_MAX = 25

Path = tuple[str | int, ...]
Errors = dict[str, Any]

UNAUTHORIZED = {"message": "401: Unauthorized", "code": 0}
INVALID_WEBHOOK_TOKEN = {"message": "Invalid Webhook Token", "code": 50027}
UNKNOWN_INTERACTION = {"message": "Unknown interaction", "code": 10062}
ALREADY_ACKNOWLEDGED = {"message": "Interaction has already been acknowledged.", "code": 40060}
EMPTY_MESSAGE = {"message": "Cannot send an empty message", "code": 50006}
TOO_MANY_COMMANDS = {
    "message": f"Maximum number of application commands reached ({GLOBAL_COMMANDS_MAX})",
    "code": 30032,
}


class _Form:
    """Collects field errors by path, then answers in Discord's nested shape."""

    def __init__(self) -> None:
        self.errors: Errors = {}

    def add(self, path: Path, code: str, message: str) -> None:
        node = self.errors
        for key in path:
            node = node.setdefault(str(key), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def too_long(self, path: Path, value: Any, limit: int) -> None:
        if value is not None and len(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def length(self, path: Path, value: Any, low: int, high: int) -> None:
        if value is None or not isinstance(value, str):
            self.add(path, "BASE_TYPE_REQUIRED", "This field is required")
        elif not low <= len(value) <= high:
            self.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")

    def body(self) -> dict[str, Any] | None:
        if not self.errors:
            return None
        return {"code": 50035, "errors": self.errors, "message": "Invalid Form Body"}


def invalid_form(path: Path, code: str, message: str) -> dict[str, Any]:
    """One field error in Discord's shape (for tests that compare whole bodies)."""
    form = _Form()
    form.add(path, code, message)
    body = form.body()
    assert body is not None
    return body


# --- commands ------------------------------------------------------------------------------


def check_commands(commands: Any) -> dict[str, Any] | None:
    """A bulk overwrite of the global commands: every command valid, at most 100, names unique."""
    if not isinstance(commands, list):
        return invalid_form((), "LIST_TYPE_CONVERT", "Only iterables may be used in a ListType.")
    if len(commands) > GLOBAL_COMMANDS_MAX:
        return TOO_MANY_COMMANDS
    form = _Form()
    seen: set[tuple[int, str]] = set()
    for k, command in enumerate(commands):
        _check_command(form, (k,), command)
        key = (int(command.get("type") or CHAT_INPUT), str(command.get("name")))
        if key in seen:
            form.add(
                (k, "name"), "APPLICATION_COMMANDS_DUPLICATE_NAME", "Application command names must be unique"
            )
        seen.add(key)
    return form.body()


def _check_name(form: _Form, path: Path, name: Any, what: str) -> None:
    if not isinstance(name, str) or not COMMAND_NAME.match(name) or name != name.lower():
        form.add(path, f"APPLICATION_COMMAND_INVALID_{what}", f"{what.title()} name is invalid")


def _check_command(form: _Form, path: Path, command: dict[str, Any]) -> None:
    chat_input = int(command.get("type") or CHAT_INPUT) == CHAT_INPUT
    if chat_input:
        _check_name(form, (*path, "name"), command.get("name"), "COMMAND")
        form.length((*path, "description"), command.get("description"), 1, DESCRIPTION_MAX)
    _check_options(form, path, command.get("options") or [])
    size = command_size(command)
    if size > COMMAND_CHARS_MAX:
        form.add(path, "APPLICATION_COMMAND_TOO_LARGE", f"Command exceeds maximum size ({COMMAND_CHARS_MAX})")


def _check_options(form: _Form, path: Path, options: Sequence[dict[str, Any]]) -> None:
    form.too_long((*path, "options"), options, OPTIONS_MAX)
    optional_seen = False
    for k, option in enumerate(options):
        at = (*path, "options", k)
        _check_name(form, (*at, "name"), option.get("name"), "OPTION")
        form.length((*at, "description"), option.get("description"), 1, DESCRIPTION_MAX)
        if option.get("required"):
            if optional_seen:
                form.add(
                    at,
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
        else:
            optional_seen = True
        choices = option.get("choices") or []
        if choices and option.get("autocomplete"):
            form.add(
                (*at, "autocomplete"),
                "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_WITH_CHOICES",
                "Autocomplete cannot be set on options that have choices",
            )
        form.too_long((*at, "choices"), choices, CHOICES_MAX)
        for j, choice in enumerate(choices):
            form.length((*at, "choices", j, "name"), choice.get("name"), 1, CHOICE_NAME_MAX)
            value = choice.get("value")
            if isinstance(value, str):
                form.length((*at, "choices", j, "value"), value, 1, CHOICE_VALUE_MAX)
        if option.get("type") in SUBCOMMAND_TYPES:
            _check_options(form, at, option.get("options") or [])


def command_size(command: dict[str, Any]) -> int:
    """Characters Discord counts toward a command's 4,000: names, descriptions and
    choice names and values, of the command and of every option below it."""
    total = len(str(command.get("name") or "")) + len(str(command.get("description") or ""))
    for option in command.get("options") or []:
        total += command_size(option)
        for choice in option.get("choices") or []:
            total += len(str(choice.get("name") or "")) + len(str(choice.get("value") or ""))
    return total


# --- messages ------------------------------------------------------------------------------


def check_message(
    message: Any, *, files: int = 0, path: Path = (), require_content: bool = True
) -> dict[str, Any] | None:
    """A message body (a channel message, an interaction's ``data``, a follow-up or an
    edit): content, embeds and their limits; an empty new message is refused."""
    if not isinstance(message, dict):
        message = {}
    form = _Form()
    form.too_long((*path, "content"), message.get("content"), CONTENT_MAX)
    embeds = message.get("embeds") or []
    form.too_long((*path, "embeds"), embeds, EMBEDS_MAX)
    total = 0
    for k, embed in enumerate(embeds):
        total += _check_embed(form, (*path, "embeds", k), embed)
    if total > EMBED_TOTAL_MAX:
        form.add(
            (*path, "embeds"),
            "MAX_EMBED_SIZE_EXCEEDED",
            f"Embed size exceeds maximum size of {EMBED_TOTAL_MAX}",
        )
    body = form.body()
    if body is not None:
        return body
    shows = message.get("content") or embeds or files or message.get("sticker_ids") or message.get("poll")
    if require_content and not shows:
        return EMPTY_MESSAGE
    return None


def _check_embed(form: _Form, path: Path, embed: dict[str, Any]) -> int:
    """Checks one embed; returns the characters it counts toward the message's 6,000."""
    title, description = embed.get("title"), embed.get("description")
    footer = (embed.get("footer") or {}).get("text")
    author = (embed.get("author") or {}).get("name")
    fields = embed.get("fields") or []
    form.too_long((*path, "title"), title, TITLE_MAX)
    form.too_long((*path, "description"), description, EMBED_DESCRIPTION_MAX)
    form.too_long((*path, "footer", "text"), footer, FOOTER_MAX)
    form.too_long((*path, "author", "name"), author, AUTHOR_NAME_MAX)
    form.too_long((*path, "fields"), fields, FIELDS_MAX)
    size = sum(len(t or "") for t in (title, description, footer, author))
    for k, item in enumerate(fields):
        form.length((*path, "fields", k, "name"), item.get("name"), 1, FIELD_NAME_MAX)
        form.length((*path, "fields", k, "value"), item.get("value"), 1, FIELD_VALUE_MAX)
        size += len(item.get("name") or "") + len(item.get("value") or "")
    visible = (title, description, footer, author, fields, embed.get("image"), embed.get("thumbnail"))
    if not any(visible):
        form.add((*path, "description"), "BASE_TYPE_REQUIRED", "This field is required")
    return size


def check_choices(data: Any) -> dict[str, Any] | None:
    """An autocomplete answer (callback type 8): at most 25 choices of 1–100 characters."""
    choices = (data or {}).get("choices") if isinstance(data, dict) else None
    form = _Form()
    if choices is None:
        form.add(("data", "choices"), "BASE_TYPE_REQUIRED", "This field is required")
        return form.body()
    form.too_long(("data", "choices"), choices, AUTOCOMPLETE_CHOICES_MAX)
    for k, choice in enumerate(choices):
        form.length(("data", "choices", k, "name"), choice.get("name"), 1, CHOICE_NAME_MAX)
        if isinstance(choice.get("value"), str):
            form.length(("data", "choices", k, "value"), choice["value"], 1, CHOICE_VALUE_MAX)
    return form.body()
