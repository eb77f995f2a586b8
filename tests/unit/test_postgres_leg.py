"""The PostgreSQL leg skips on a laptop without PostgreSQL, and fails when CI requires it."""

from __future__ import annotations

import pytest

from tests.postgres import ENV_REQUIRE, ENV_URL, SKIP_REASON

pytestmark = pytest.mark.slow

# A session whose PostgreSQL binaries cannot be found, whatever this machine has installed.
CONFTEST = """
import tests.postgres as leg

leg.find_postgres_bin = lambda: None
pytest_plugins = ["tests.postgres"]
"""

TEST = """
def test_needs_postgres(postgres_url):
    assert postgres_url
"""


def run_leg(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, require: str | None
) -> pytest.RunResult:
    monkeypatch.delenv(ENV_URL, raising=False)
    if require is None:
        monkeypatch.delenv(ENV_REQUIRE, raising=False)
    else:
        monkeypatch.setenv(ENV_REQUIRE, require)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_leg=TEST)
    return pytester.runpytest_subprocess("-rs", "-p", "no:cacheprovider")


def test_a_missing_postgres_is_a_loud_skip_by_default(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_leg(pytester, monkeypatch, require=None)
    result.assert_outcomes(skipped=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([f"*{SKIP_REASON}*", "*POSTGRESQL LEG SKIPPED*"])


@pytest.mark.parametrize("require", ["1", "true"])
def test_a_missing_postgres_fails_the_run_when_required(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, require: str
) -> None:
    result = run_leg(pytester, monkeypatch, require=require)
    result.assert_outcomes(errors=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([f"*{SKIP_REASON}*{ENV_REQUIRE} requires it*"])
    result.stdout.no_fnmatch_line("*POSTGRESQL LEG SKIPPED*")
