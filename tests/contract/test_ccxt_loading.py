"""ccxt imported with only the configured exchange, and every way back to ccxt's full import.

Each case runs in a fresh interpreter: what ccxt's packages are depends on what the process
imported first, which this test process has long decided.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CHECKS = """
import json, logging, sys
logging.basicConfig(level=logging.WARNING, format="LOG %(levelname)s %(message)s")
{before}
from bot.collector import ccxt_loading
from bot.collector.client import SourceTuning, new_exchange
from bot.collector.profiles import profile_for
from bot.collector.request_budget import ExchangeGate
{between}
import ccxt, ccxt.async_support
from ccxt.base import errors
from ccxt.async_support.base.exchange import Exchange
exchange = new_exchange(profile_for({exchange!r}), SourceTuning(), ExchangeGate(), None)
cls = ccxt_loading.exchange_class({exchange_class!r})
print(json.dumps({{
    "light": ccxt_loading.is_light(ccxt.async_support),
    "same_class": cls is getattr(ccxt.async_support, {exchange_class!r}),
    "gated_from_it": isinstance(exchange, cls) and isinstance(exchange, Exchange),
    "exchanges_loaded": sorted(
        n.rsplit(".", 1)[1] for n in sys.modules
        if n.startswith("ccxt.async_support.") and n.count(".") == 2 and n != "ccxt.async_support.base"
    ),
    "errors_same": all(
        getattr(ccxt, n) is getattr(errors, n) and getattr(ccxt.async_support, n) is getattr(errors, n)
        for n in errors.__all__
    ),
    "translated": ccxt_loading.errors is errors,
    "modules": len(sys.modules),
}}))
"""


def run_checks(
    exchange: str = "binanceusdm", *, exchange_class: str = "binanceusdm", before: str = "", between: str = ""
) -> tuple[dict[str, object], list[str]]:
    code = CHECKS.format(exchange=exchange, exchange_class=exchange_class, before=before, between=between)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    warnings = [line for line in done.stderr.splitlines() if line.startswith("LOG WARNING")]
    return json.loads(done.stdout.strip().splitlines()[-1]), warnings


@pytest.mark.parametrize(
    ("exchange", "exchange_class", "loaded"),
    [
        ("binanceusdm", "binanceusdm", ["binance", "binanceusdm"]),
        ("bybit", "bybit", ["bybit"]),
        ("okx", "okx", ["okx"]),
    ],
)
def test_only_the_configured_exchange_is_imported_with_ccxt_s_own_error_classes(
    exchange: str, exchange_class: str, loaded: list[str]
) -> None:
    answer, warnings = run_checks(exchange, exchange_class=exchange_class)
    assert answer["light"] is True
    assert answer["exchanges_loaded"] == loaded
    assert answer["same_class"] and answer["gated_from_it"]
    assert answer["errors_same"] and answer["translated"]
    assert warnings == []


def test_ccxt_imported_in_full_first_is_used_as_it_is_with_one_warning() -> None:
    answer, warnings = run_checks(before="import ccxt.async_support")
    assert answer["light"] is False
    assert len(answer["exchanges_loaded"]) > 50  # every exchange ccxt ships
    assert answer["same_class"] and answer["gated_from_it"] and answer["errors_same"]
    assert len(warnings) == 1 and "imported in full" in warnings[0]


def test_a_name_the_light_package_lacks_completes_it_in_place() -> None:
    # OrderRouter is in ccxt's package but not among the names ccxt's exchange modules import.
    answer, warnings = run_checks(
        between=(
            "import ccxt as light\n"
            "from ccxt import OrderRouter, exchanges\n"
            "assert sys.modules['ccxt'] is light and 'okx' in exchanges\n"
            "assert OrderRouter.__name__ == 'OrderRouter'"
        )
    )
    assert answer["errors_same"] and answer["same_class"] and answer["gated_from_it"]
    assert len(warnings) == 1 and "not in the light package" in warnings[0]


def test_an_exchange_that_fails_to_load_alone_falls_back_to_the_full_import() -> None:
    code = textwrap.dedent(
        """
        import json, logging, sys
        logging.basicConfig(level=logging.WARNING, format="LOG %(levelname)s %(message)s")
        from bot.collector import ccxt_loading
        try:
            ccxt_loading.exchange_class("nosuchexchange")
        except AttributeError as exc:
            error = str(exc)
        okx = ccxt_loading.exchange_class("okx")
        print(json.dumps({"error": error, "light": ccxt_loading.is_light(ccxt_loading.ccxt_async),
                          "okx": okx.__module__}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert "nosuchexchange" in answer["error"]
    assert answer["light"] is False  # ccxt's own __init__ ran: the package is complete now
    assert answer["okx"] == "ccxt.async_support.okx"
    assert "loading nosuchexchange alone failed" in done.stderr
