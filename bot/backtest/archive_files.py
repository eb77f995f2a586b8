"""The files of Binance's public data archive (USD-M futures): finding, verifying, reading.

The archive's download layout (``data/futures/um/{daily,monthly}/{kind}/{SYMBOL}/...``) is
kept as downloaded. Metrics and funding files carry their kind in their names
(``BTCUSDT-metrics-2024-01-01.zip``, ``BTCUSDT-fundingRate-2024-01.zip``); kline files do
not (``BTCUSDT-5m-2024-01-01.zip`` is the same name for mark, index and premium klines),
so a kline file's kind is the nearest folder above it named like the archive's.
"""

from __future__ import annotations

import calendar
import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bot.errors import InputError

METRICS = "metrics"
FUNDING = "fundingRate"
MARK = "markPriceKlines"
INDEX = "indexPriceKlines"
PREMIUM = "premiumIndexKlines"
KLINE_KINDS = (MARK, INDEX, PREMIUM)
USED_KINDS = (METRICS, FUNDING, *KLINE_KINDS)
UNUSED_KINDS = (
    "klines",
    "aggTrades",
    "trades",
    "bookTicker",
    "bookDepth",
    "liquidationSnapshot",
    "BVOLIndex",
)
"""Other folders of the archive: their files are listed as ignored, not refused."""

_NAME = re.compile(
    r"^(?P<symbol>[A-Z0-9_]+)-(?P<what>[A-Za-z]+|\d+[smhdw]|1mo)"
    r"-(?P<year>\d{4})-(?P<month>\d{2})(?:-(?P<day>\d{2}))?\.(?P<ext>zip|csv)$"
)
_CHECKSUM = re.compile(r"^([0-9a-fA-F]{64})\s+\*?(\S.*?)\s*$")


@dataclass(frozen=True, slots=True)
class ArchiveFile:
    """One data file of the archive (a zip, or the CSV a user extracted from one).

    Attributes:
        path: where it is.
        kind: ``metrics``, ``fundingRate``, ``markPriceKlines``, ``indexPriceKlines`` or
            ``premiumIndexKlines``.
        symbol: the symbol in the file name.
        first_day / last_day: the days it covers (a monthly file covers its month).
    """

    path: Path
    kind: str
    symbol: str
    first_day: date
    last_day: date

    def __str__(self) -> str:
        return str(self.path)


@dataclass(frozen=True, slots=True)
class Discovery:
    """What a folder holds: the usable files and every other file with the reason it is ignored."""

    files: list[ArchiveFile]
    ignored: list[tuple[Path, str]]


def _days(name: re.Match[str]) -> tuple[date, date] | None:
    year, month = int(name["year"]), int(name["month"])
    try:
        if name["day"]:
            day = date(year, month, int(name["day"]))
            return day, day
        return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
    except ValueError:
        return None


def _kline_kind(path: Path, root: Path) -> str | None:
    """The nearest folder between ``path`` and ``root`` named like one of the archive's kinds."""
    for folder in reversed(path.relative_to(root).parts[:-1]):
        if folder in KLINE_KINDS or folder in UNUSED_KINDS:
            return folder
    return None


def _classify(path: Path, root: Path) -> ArchiveFile | str:
    """The file, or why it is not used."""
    name = _NAME.match(path.name)
    if name is None:
        return "name is not in the archive's pattern SYMBOL-KIND-DATE.zip"
    days = _days(name)
    if days is None:
        return "the date in the name is not a calendar date"
    what = name["what"]
    if what in (METRICS, FUNDING):
        kind = what
    elif what[0].isdigit():
        folder = _kline_kind(path, root)
        if folder is None:
            raise InputError(
                f"{path}: cannot tell mark, index or premium klines apart by name; keep the "
                f"archive's folders (…/{MARK}/SYMBOL/5m/…, …/{INDEX}/…, …/{PREMIUM}/…)"
            )
        kind = folder
    else:
        kind = what
    if kind not in USED_KINDS:
        return f"{kind} files are not used"
    return ArchiveFile(path, kind, name["symbol"], *days)


def discover(root: Path) -> Discovery:
    """Every archive data file under ``root`` (any depth), in a stable order.

    A ``.csv`` beside the ``.zip`` it was extracted from is ignored (the zip is read).

    Raises:
        InputError: ``root`` is not a folder, or a kline file is outside the archive's
            kind folders so its kind cannot be told.
    """
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    files: list[ArchiveFile] = []
    ignored: list[tuple[Path, str]] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name.endswith(".CHECKSUM"):
            continue  # read beside its zip
        if path.suffix == ".csv" and path.with_suffix(".zip").is_file():
            ignored.append((path, "the zip beside it is read instead"))
            continue
        found = _classify(path, root)
        if isinstance(found, str):
            ignored.append((path, found))
        else:
            files.append(found)
    return Discovery(files, ignored)


def checksum_problem(file: ArchiveFile, data: bytes) -> str | None:
    """Why ``data`` (the zip's bytes) fails its ``.CHECKSUM`` sidecar, or None when it passes.

    The sidecar is ``sha256sum`` output: ``<64 hex digits>  <file name>``.
    """
    sidecar = file.path.with_name(file.path.name + ".CHECKSUM")
    try:
        text = sidecar.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return f"{sidecar}: not a sha256sum line"
    except OSError as exc:
        return f"{sidecar}: cannot read: {exc.strerror or exc}"
    line = _CHECKSUM.match(text.strip())
    if line is None:
        return f"{sidecar}: not a sha256sum line (expected '<64 hex digits>  {file.path.name}')"
    if line[2] != file.path.name:
        return f"{sidecar}: names {line[2]!r}, not {file.path.name!r}"
    actual = hashlib.sha256(data).hexdigest()
    if actual != line[1].lower():
        return f"{file.path}: sha256 {actual} does not match its .CHECKSUM ({line[1].lower()})"
    return None


def has_checksum(file: ArchiveFile) -> bool:
    """Whether a ``.CHECKSUM`` sidecar sits beside the file."""
    return file.path.with_name(file.path.name + ".CHECKSUM").is_file()


def read_bytes(file: ArchiveFile) -> bytes:
    """The file's bytes, as stored.

    Raises:
        InputError: the file cannot be read.
    """
    try:
        return file.path.read_bytes()
    except OSError as exc:
        raise InputError(f"{file.path}: cannot read: {exc.strerror or exc}") from exc


def csv_text(file: ArchiveFile, data: bytes) -> str:
    """The CSV text inside ``data``: the zip's one CSV member, or the CSV itself.

    Raises:
        InputError: a corrupt zip (bad CRC, truncated), not exactly one CSV inside, not UTF-8.
    """
    raw = data
    if file.path.suffix == ".zip":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = [m for m in archive.namelist() if m.endswith(".csv")]
                if len(members) != 1:
                    raise InputError(f"{file.path}: expected one CSV inside, found {len(members)}")
                raw = archive.read(members[0])
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
            raise InputError(f"{file.path}: corrupt zip: {exc}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{file.path}: not UTF-8 text (byte {exc.start})") from exc


def csv_rows(file: ArchiveFile, text: str) -> Iterator[tuple[int, list[str]]]:
    """(1-based line, cells) for every non-blank CSV row, header included.

    Raises:
        InputError: the text is not valid CSV (names the line).
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    line = 1
    try:
        for cells in reader:
            if cells and any(cells):
                yield line, cells
            line = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(f"{file.path}: line {line}: not valid CSV: {exc}") from exc
