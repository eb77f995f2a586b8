"""Resolve what a person types to one of the exchange's own symbol ids.

Known ids are exchange-native: ``BTCUSDT`` (Binance, Bybit), ``BTC-USDT-SWAP`` (OKX),
and multiplier contracts such as ``1000SHIBUSDT``, ``1000000MOGUSDT``, ``1MBABYDOGEUSDT``
(Binance, and Bybit's ``1000PEPEUSDT``) or ``SHIB1000USDT`` (Bybit). People type ``btc``,
``BTC/USDT:USDT``, ``btcusdt``, ``shib`` or ``$mog``; each is reduced to a compact key
(upper-case letters and digits, quote included) and matched, in order, by:

1. the compact key itself (``BTC/USDT:USDT``, ``BTC-USDT-SWAP`` → ``BTCUSDT``);
2. the key with the quote appended (``btc`` → ``BTCUSDT``, ``1000shib`` → ``1000SHIBUSDT``);
3. the bare base, the asset without its multiplier (``shib`` → ``1000SHIBUSDT`` on Binance,
   ``SHIB1000USDT`` on Bybit, ``SHIB-USDT-SWAP`` on OKX), when exactly one known id has it;
   several (``SHIBUSDT`` and ``1000SHIBUSDT``) are offered instead. The bare base is
   ``bot.core.instruments.canonical``'s asset: one rule for what a name means, whether a
   person typed it or the aggregate groups the venues' listings by it.

Anything else gets up to five close matches (``difflib``). Pure and standard-library only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from bot.core.instruments import canonical

QUOTE = "USDT"
MAX_INPUT_CHARS = 40
MAX_SUGGESTIONS = 5
SUGGESTION_CUTOFF = 0.6

# Venue suffixes after a separator: OKX "-SWAP", TradingView ".P", "-PERP". A bare
# "PERP" is left alone: PERPUSDT is a real market.
_VENUE_SUFFIX = re.compile(r"[-_.](?:SWAP|PERP|P)$")
_SEPARATORS = re.compile(r"[\s/\-_.]+")
_COMPACT = re.compile(r"[A-Z0-9]{1,30}")


def compact(text: str) -> str | None:
    """Upper-case letters and digits of a symbol as typed; ``None`` when it cannot be one.

    ``btc/usdt:usdt`` → ``BTCUSDT``; ``BTC-USDT-SWAP`` → ``BTCUSDT``; ``$shib`` → ``SHIB``.
    """
    if not text.isascii():
        return None
    key = text.strip().upper().removeprefix("$")
    # ccxt's unified form names the settle currency after a colon: BTC/USDT:USDT.
    key = key.split(":", 1)[0]
    key = _SEPARATORS.sub("", _VENUE_SUFFIX.sub("", key.strip()))
    return key if _COMPACT.fullmatch(key) else None


def bare_base(key: str) -> str | None:
    """The asset of a compact key, without quote or multiplier: ``1000SHIBUSDT`` and
    ``SHIB1000USDT`` → ``SHIB`` (``instruments.canonical``: ``1INCH`` stays ``1INCH``)."""
    base = key[: -len(QUOTE)] if key.endswith(QUOTE) and len(key) > len(QUOTE) else key
    read = canonical(base)
    return None if read is None else read[0]


@dataclass(frozen=True, slots=True)
class Resolution:
    """The outcome of resolving one piece of text.

    Attributes:
        symbol: the known id it names, or ``None``.
        suggestions: known ids the person may have meant (empty when ``symbol`` is set).
    """

    symbol: str | None
    suggestions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SymbolIndex:
    """Lookup tables over one exchange's known symbol ids; build with ``SymbolIndex.of``."""

    known: frozenset[str]
    by_key: dict[str, str] = field(default_factory=dict)
    by_base: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @staticmethod
    def of(symbols: Iterable[str]) -> SymbolIndex:
        """Index the given exchange ids (duplicates and empty strings are ignored)."""
        known = frozenset(s for s in symbols if s)
        by_key: dict[str, str] = {}
        by_base: dict[str, list[str]] = {}
        # Exact ids first, so an id that is itself a compact key always maps to itself.
        for symbol in sorted(known, key=lambda s: (compact(s) != s, s)):
            key = compact(symbol)
            if key is None:
                continue
            by_key.setdefault(key, symbol)
            base = bare_base(key)
            if base is not None:
                by_base.setdefault(base, []).append(symbol)
        return SymbolIndex(
            known=known,
            by_key=by_key,
            by_base={base: tuple(ids) for base, ids in by_base.items()},
        )

    def __contains__(self, symbol: object) -> bool:
        return symbol in self.known

    def resolve(self, text: str) -> Resolution:
        """The known id ``text`` names, or close matches (rules in the module docstring)."""
        if text in self.known:
            return Resolution(text)
        if len(text) > MAX_INPUT_CHARS:
            return Resolution(None)
        key = compact(text)
        if key is None:
            return Resolution(None)
        for candidate in (key, key + QUOTE):
            if candidate in self.by_key:
                return Resolution(self.by_key[candidate])
        base = bare_base(key)
        same_base = self.by_base.get(base, ()) if base else ()
        if len(same_base) == 1:
            return Resolution(same_base[0])
        if same_base:
            return Resolution(None, same_base[:MAX_SUGGESTIONS])
        return Resolution(None, self.close_matches(key, base))

    def close_matches(self, key: str, base: str | None) -> tuple[str, ...]:
        """Known ids whose compact key or bare base looks like ``key`` / ``base``, best first."""
        best: dict[str, float] = {}

        def consider(typed: str, candidate: str, symbols: Iterable[str]) -> None:
            matcher = SequenceMatcher(None, typed, candidate)
            # The cheap upper bounds first, as difflib.get_close_matches does.
            if matcher.real_quick_ratio() < SUGGESTION_CUTOFF or matcher.quick_ratio() < SUGGESTION_CUTOFF:
                return
            ratio = matcher.ratio()
            if ratio >= SUGGESTION_CUTOFF:
                for symbol in symbols:
                    best[symbol] = max(best.get(symbol, 0.0), ratio)

        for candidate, symbol in self.by_key.items():
            consider(key, candidate, (symbol,))
        if base:
            for candidate, symbols in self.by_base.items():
                consider(base, candidate, symbols)
        ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))
        return tuple(symbol for symbol, _ in ranked[:MAX_SUGGESTIONS])
