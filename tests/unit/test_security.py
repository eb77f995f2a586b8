"""Security rules checked on the code itself: bounded dependencies, no SQL built from strings,
tokens that never print. (Log redaction: test_logsafety.py and the ``dps run`` and soak tests;
settings refused to non-admins: test_commands.py and both chat adapters' contract tests.)"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from bot.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
SQL_CALLS = {"text", "exec_driver_sql", "execute", "executescript", "executemany"}


def test_every_dependency_has_a_lower_and_an_upper_bound() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [
        *project["dependencies"],
        *(d for group in project["optional-dependencies"].values() for d in group),
    ]
    assert wanted
    for requirement in wanted:
        assert re.search(r">=\s*[\d.]+", requirement), f"no lower bound: {requirement}"
        assert re.search(r"<\s*[\d.]+", requirement), f"no upper bound: {requirement}"


def _built_strings(node: ast.AST) -> bool:
    """An f-string, ``%`` formatting, ``+`` on strings or ``.format()`` anywhere in ``node``."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.JoinedStr):
            return True
        if (
            isinstance(sub, ast.BinOp)
            and isinstance(sub.op, (ast.Mod, ast.Add))
            and any(
                isinstance(side, (ast.Constant, ast.JoinedStr))
                and isinstance(getattr(side, "value", ""), str)
                for side in (sub.left, sub.right)
            )
        ):
            return True
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr == "format":
            return True
    return False


def sql_built_from_strings(source: str) -> list[int]:
    """Lines where a SQL entry point gets text assembled at run time."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name in SQL_CALLS and node.args and _built_strings(node.args[0]):
            found.append(node.lineno)
    return found


def test_the_checker_catches_sql_built_from_strings() -> None:
    assert sql_built_from_strings("session.execute(text(f\"SELECT * FROM t WHERE s = '{s}'\"))") == [1, 1]
    assert sql_built_from_strings('con.execute("DELETE FROM t WHERE id = %s" % x)') == [1]
    assert sql_built_from_strings('con.execute("SELECT " + cols)') == [1]
    assert sql_built_from_strings('con.execute("SELECT {}".format(x))') == [1]
    assert sql_built_from_strings("session.execute(select(Row).where(Row.id == x))") == []


def test_no_sql_is_built_from_strings_anywhere_in_the_bot() -> None:
    offenders = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / "bot").rglob("*.py"))
        if (lines := sql_built_from_strings(path.read_text(encoding="utf-8")))
    }
    assert offenders == {}


@pytest.mark.parametrize("field", ["telegram_bot_token", "discord_bot_token"])
def test_tokens_never_show_in_settings_reprs_or_errors(field: str) -> None:
    secret = "123456:NEVER-PRINT-THIS"  # noqa: S105 - a made-up token
    settings = load_settings(**{field: secret})
    assert secret not in repr(settings)
    assert secret not in str(settings.model_dump())
    assert getattr(settings, field).get_secret_value() == secret
