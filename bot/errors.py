"""The project's one error tree.

DpsError                         root: anything the bot raises on purpose
├── ConfigError                  a setting is wrong; names the setting
├── InputError                   bad user or file input; safe to show to a person
│   └── CsvFormatError           a malformed evaluate CSV; names line and column
├── SourceError                  market data could not be fetched or understood
│   ├── SourceUnavailableError   transient: network, 5xx, rate limit (retry later)
│   └── SourceDataError          the payload was junk for one symbol or call
├── StorageError                 the database refused or failed
│   ├── StorageBusyError         transient: the database stayed locked by other writers
│   └── LeaseLostError           a write under a lease found it held by another process
├── ListenError                  the dashboard could not listen on its address (also an
│                                OSError): in use, not allowed, unknown host
├── ChatPlatformError            a chat platform could not be started: token refused
│                                (Telegram or Discord alike) or platform unreachable
└── ChartError                   a chart could not be drawn: the chart worker timed out,
                                 crashed or could not start
"""

from __future__ import annotations


class DpsError(Exception):
    """Root of every error the bot raises on purpose."""


class ConfigError(DpsError):
    """A setting is missing or invalid; the message names it."""


class InputError(DpsError):
    """Bad input from a person or a file; the message is safe to show."""


class CsvFormatError(InputError):
    """A malformed evaluate CSV.

    Attributes:
        line: 1-based line number in the file.
        column: the column name (or None when the problem is the whole line).
    """

    def __init__(self, message: str, line: int, column: str | None = None) -> None:
        where = f"line {line}" + (f", column {column!r}" if column else "")
        super().__init__(f"{where}: {message}")
        self.line = line
        self.column = column


class SourceError(DpsError):
    """Market data could not be fetched or understood."""


class SourceUnavailableError(SourceError):
    """A transient source failure; retrying later may work."""


class SourceDataError(SourceError):
    """The source answered with data we cannot use."""


class StorageError(DpsError):
    """The database refused or failed."""


class StorageBusyError(StorageError):
    """The database stayed locked by other writers past the wait allowed; retrying may work."""


class LeaseLostError(StorageError):
    """A write under a lease found the lease held by another process; nothing was stored."""


class ListenError(DpsError, OSError):
    """The web server could not listen on its address; the message names it and why.

    An ``OSError`` too, so callers that serve on a best-effort basis (the demo) catch it as
    one, while ``dps run`` and ``dps web`` report it as a clean error, not a traceback.
    """


class ChatPlatformError(DpsError):
    """A chat platform refused the bot or could not be reached.

    A refused token is this on Telegram and on Discord alike, so one ``except`` (and one
    line in the operator's log) covers both; so are Discord refusing the slash commands
    (``dps discord sync``) and a platform that is unreachable at start-up.
    """


class ChartError(DpsError):
    """A chart could not be drawn (the worker process timed out, crashed or did not start).

    The digest goes out without its picture and ``/chart`` says so; the next chart starts
    a fresh worker.
    """
