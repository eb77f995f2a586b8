"""``quick_init`` (bot/core/frozen.py) builds exactly what the dataclass's own ``__init__``
builds: each decorated record is compared with a plain twin made by ``dataclasses`` from
the same fields, on the same arguments."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app.snapshot_scoring import ScoredSymbol
from bot.core.events import AlertEvent, LastAlert, Reading, ScoredPoint, SymbolState
from bot.core.frozen import quick_init
from bot.core.market import MarketSnapshot
from bot.core.models import Components, ScoreInputs, ScoreResult
from bot.core.oi_deltas import OiChanges
from bot.core.records import ScoreRecord

QUICK = (
    ScoreInputs,
    Components,
    ScoreResult,
    ScoreRecord,
    Reading,
    ScoredPoint,
    LastAlert,
    SymbolState,
    AlertEvent,
    OiChanges,
    MarketSnapshot,
    ScoredSymbol,
)


def plain_twin(cls: type) -> type:
    """``cls`` as ``@dataclass(frozen=True, slots=True)`` alone declares it."""
    spec = [
        (f.name, f.type, dataclasses.field(default=f.default))
        if f.default is not dataclasses.MISSING
        else (f.name, f.type)
        for f in dataclasses.fields(cls)
    ]
    namespace = {"__post_init__": cls.__post_init__} if hasattr(cls, "__post_init__") else {}
    return dataclasses.make_dataclass(cls.__name__, spec, frozen=True, slots=True, namespace=namespace)


def values(obj: Any) -> tuple[Any, ...]:
    return tuple(getattr(obj, f.name) for f in dataclasses.fields(obj))


@pytest.mark.parametrize("cls", QUICK, ids=lambda c: c.__name__)
def test_each_record_uses_the_quick_init(cls: type) -> None:
    # The generated one is named "__create_fn__.<locals>.__init__" by dataclasses.
    assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"


any_value = st.one_of(st.none(), st.floats(allow_nan=False), st.integers(), st.text(max_size=5))


@pytest.mark.parametrize("cls", [c for c in QUICK if c is not ScoreRecord], ids=lambda c: c.__name__)
@given(data=st.data())
def test_positional_and_keyword_arguments_build_what_the_plain_init_builds(cls: type, data: Any) -> None:
    twin = plain_twin(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    required = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING]
    given_names = names[: data.draw(st.integers(min_value=len(required), max_value=len(names)))]
    args = [data.draw(any_value) for _ in given_names]
    positional = data.draw(st.integers(min_value=0, max_value=len(args)))
    kwargs = dict(zip(given_names[positional:], args[positional:], strict=True))
    quick, plain = cls(*args[:positional], **kwargs), twin(*args[:positional], **kwargs)
    assert values(quick) == values(plain)
    assert all(type(a) is type(b) for a, b in zip(values(quick), values(plain), strict=True))
    # Same fields in the same order: equal and hashed alike as the plain record's values.
    assert quick == cls(*values(plain))
    assert hash(quick) == hash(cls(*values(plain)))
    assert pickle.loads(pickle.dumps(quick)) == quick  # noqa: S301 - bytes made just above


@pytest.mark.parametrize("cls", QUICK, ids=lambda c: c.__name__)
def test_wrong_calls_fail_as_the_plain_init_fails(cls: type) -> None:
    twin = plain_twin(cls)
    fields = dataclasses.fields(cls)
    required = any(f.default is dataclasses.MISSING for f in fields)
    for call in (
        *([lambda k: k()] if required else []),
        lambda k: k(*range(len(fields) + 1)),
        lambda k: k(*range(len(fields)), **{fields[0].name: 1}),
        lambda k: k(*range(len(fields)), nope=1),
    ):
        with pytest.raises(TypeError):
            call(twin)
        with pytest.raises(TypeError):
            call(cls)


def test_post_init_still_runs() -> None:
    naive = datetime(2026, 1, 1)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="aware"):
        ScoreRecord("x", "BTCUSDT", naive, ScoreInputs(), None)  # type: ignore[arg-type]
    ok = ScoreRecord("x", "BTCUSDT", naive.replace(tzinfo=UTC), ScoreInputs(), None)  # type: ignore[arg-type]
    assert ok.ts.tzinfo is UTC


def test_records_stay_frozen_and_replace_works() -> None:
    inputs = ScoreInputs(oi_1h_pct=1.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        inputs.oi_1h_pct = 2.0  # type: ignore[misc]
    assert dataclasses.replace(inputs, basis_pct=0.1) == ScoreInputs(oi_1h_pct=1.5, basis_pct=0.1)
    assert ScoreInputs().funding_interval_h == 8.0  # the declared default


def test_refuses_what_it_cannot_reproduce() -> None:
    @dataclasses.dataclass(slots=True)
    class Mutable:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Factory:
        a: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    for cls in (Mutable, Factory, NoSlots, int):
        with pytest.raises(TypeError):
            quick_init(cls)
