"""A small scored market in the fake stores, and a command layer over it, for command tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from bot.app.command_limits import RateLimit
from bot.app.commands import ChartRenderer, CommandLayer, CommandPorts, CommandRequest
from bot.app.views import ChartView, ErrorKind, ErrorReply, Reply
from bot.core.market import MarketSnapshot
from bot.core.models import ScoreInputs
from bot.core.records import ChatKey, ChatKind, Platform, ScoreRecord
from bot.core.scoring import score
from tests.fakes.clock import EPOCH
from tests.fakes.contract import store_scores
from tests.fakes.storage import FakeStorage

EXCHANGE = "binanceusdm"
LATEST = EPOCH
"""Data time of the newest collection."""
STEP = timedelta(minutes=15)
HISTORY = timedelta(hours=25)

# Inputs at LATEST, in percent (seed units). Regimes they land in, with default params:
# BTC lean LONG, ETH lean SHORT, SHIB neutral (4h funding), MOG lean SHORT and partial
# (no 4h OI), SPK short crowded, ARB short squeeze risk, TAKE long crowded, GALA neutral.
INPUTS: dict[str, ScoreInputs] = {
    "BTCUSDT": ScoreInputs(0.4, 1.5, 9.5, 0.03, 8, 0.12),
    "ETHUSDT": ScoreInputs(-0.2, -1.0, -3.0, -0.02, 8, -0.15),
    "1000SHIBUSDT": ScoreInputs(-0.06, 2.0, 9.2, 0.005, 4, -0.03),
    "1000000MOGUSDT": ScoreInputs(-0.72, None, 14.0, 0.005, 8, -0.18),
    "SPKUSDT": ScoreInputs(-2.11, 10.0, 47.6, -0.565, 4, -1.3),
    "ARBUSDT": ScoreInputs(3.0, 12.0, 40.0, -0.3, 8, 0.6),
    "TAKEUSDT": ScoreInputs(0.39, 2.0, 6.4, 0.093, 8, 0.32),
    "GALAUSDT": ScoreInputs(0.8, 0.5, 1.4, 0.01, 8, 0.0),
}
SYMBOLS = tuple(sorted(INPUTS))


def inputs_at(symbol: str, age: timedelta) -> ScoreInputs:
    """The symbol's inputs ``age`` before the latest data: positioning fades going back in time.

    A symbol not in INPUTS borrows one of them (chosen by its name, deterministically).
    """
    base = INPUTS.get(symbol) or list(INPUTS.values())[sum(map(ord, symbol)) % len(INPUTS)]
    fade = 1.0 - 0.5 * min(age / timedelta(hours=24), 1.0)
    return replace(
        base,
        funding_pct=None if base.funding_pct is None else base.funding_pct * fade,
        basis_pct=None if base.basis_pct is None else base.basis_pct * fade,
    )


def record(symbol: str, ts: datetime, *, latest: datetime = LATEST, exchange: str = EXCHANGE) -> ScoreRecord:
    """A stored score of ``symbol`` at ``ts``, in a market whose newest data is at ``latest``."""
    inputs = inputs_at(symbol, latest - ts)
    return ScoreRecord(exchange, symbol, ts, inputs, score(inputs))


def snapshot(symbol: str, ts: datetime, exchange: str = EXCHANGE) -> MarketSnapshot:
    """A plain snapshot of ``symbol`` at ``ts`` (only its time matters to the commands)."""
    return MarketSnapshot(exchange, symbol, ts, 1000.0, 50_000.0, 50.0, 50.0, 50.0, 0.0001, 8.0, None, None)


def populate(
    storage: FakeStorage,
    *,
    symbols: tuple[str, ...] = SYMBOLS,
    latest: datetime = LATEST,
    history: timedelta = HISTORY,
    exchange: str = EXCHANGE,
) -> FakeStorage:
    """Scores every ``STEP`` over ``history`` up to ``latest``, and the latest snapshots."""
    records = []
    ts = latest - history
    while ts <= latest:
        records.extend(record(s, ts, latest=latest, exchange=exchange) for s in symbols)
        ts += STEP
    store_scores(storage, records)
    storage.snapshots.add_snapshots([snapshot(s, latest, exchange) for s in symbols])
    return storage


# --- a command layer over the fakes ------------------------------------------------------

SOURCE = "synthetic demo market (replay)"
FLOORS = (15, 35, 60)
PRIVATE_CHAT = ChatKey(Platform.TELEGRAM, "100")
GROUP_CHAT = ChatKey(Platform.TELEGRAM, "-200")
ADMIN_ID = "42"
FAKE_PNG = b"\x89PNG\r\n\x1a\nfake"


class ChartSpy:
    """A chart renderer that records the views it was given and returns a stub PNG."""

    def __init__(self) -> None:
        self.views: list[ChartView] = []

    async def __call__(self, view: ChartView) -> bytes:
        self.views.append(view)
        return FAKE_PNG


def make_layer(
    storage: FakeStorage,
    *,
    source_label: str | None = SOURCE,
    chart: ChartRenderer | None = None,
    rate_limit: RateLimit | None = None,
    last_cycle: Callable[[], str | None] | None = None,
    charts: bool = True,
    **more: Any,
) -> CommandLayer:
    """A command layer over ``storage`` for EXCHANGE, with 5-minute collections.

    ``charts=False`` leaves the chart renderer out; ``more`` goes to ``CommandLayer``. Each
    command checks the store first (``recheck`` 0, unless ``more`` says otherwise): these
    tests store scores and ask at once, with no collecting runner to call ``refresh``;
    trusting a prepared market for a while has tests of its own (``test_prepared_reads``).
    """
    more.setdefault("recheck", timedelta(0))
    return CommandLayer(
        CommandPorts(
            scores=storage.scores, snapshots=storage.snapshots, chats=storage.chats, outbox=storage.outbox
        ),
        exchange=EXCHANGE,
        source_label=source_label,
        admin_ids=[int(ADMIN_ID)],
        band_floors=FLOORS,
        chart=None if not charts else chart if chart is not None else ChartSpy(),
        rate_limit=rate_limit,
        last_cycle=last_cycle,
        **more,
    )


def request(
    command: str,
    args: str = "",
    *,
    chat: ChatKey = PRIVATE_CHAT,
    kind: ChatKind = ChatKind.PRIVATE,
    user: str = "7",
    admin: bool = False,
    now: datetime = LATEST + timedelta(minutes=2),
) -> CommandRequest:
    """A command as an adapter would pass it."""
    return CommandRequest(
        chat=chat, chat_kind=kind, user_id=user, is_chat_admin=admin, command=command, args=args, now=now
    )


def chat_state(storage: FakeStorage) -> object:
    """Everything the chat, score and outbox stores hold, comparable before and after."""
    chats = storage.chats
    return (
        dict(chats.chats),
        dict(chats.settings),
        {ref: dict(entries) for ref, entries in chats.watchlists.items()},
        dict(storage.scores.rows),
        dict(storage.outbox.entries),
    )


async def ask(layer: CommandLayer, command: str, args: str = "", **kw: Any) -> Reply:
    """Send one command to the layer, as an adapter would."""
    return await layer.handle(request(command, args, **kw))


def error_of(reply: object, kind: ErrorKind) -> ErrorReply:
    """The reply as an error of ``kind`` (fails the test otherwise)."""
    assert isinstance(reply, ErrorReply), reply
    assert reply.kind is kind, reply
    return reply
