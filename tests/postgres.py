"""The PostgreSQL leg of the storage tests: a throwaway server, one database per test.

Registered from ``tests/conftest.py`` as a plugin. The session fixture ``postgres_url``
starts a private cluster (initdb into a temporary directory, trust authentication, a free
127.0.0.1 port, durability off because the data is thrown away) the first time a
PostgreSQL test asks for it, and stops and deletes it at the end of the session. With
``DPS_TEST_POSTGRES_URL`` set, that server is used instead (it must let the URL's user
create databases). ``PostgresDatabases`` hands each test an empty database on it.

When no PostgreSQL binaries exist, every PostgreSQL test is skipped with ``SKIP_REASON``
and the end of the run says so in a banner nobody can miss. With ``DPS_REQUIRE_POSTGRES=1``
(``.ci/run`` sets it under ``CI=true``) a missing PostgreSQL fails those tests instead: the
multi-process exactly-once tests must never be silently absent from CI. Binaries that exist
but fail to start are an error, not a skip.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

ENV_URL = "DPS_TEST_POSTGRES_URL"
ENV_REQUIRE = "DPS_REQUIRE_POSTGRES"
SKIP_REASON = "PostgreSQL not installed: the PostgreSQL leg did not run"
DATABASE = "dps_test"
DRIVER = "postgresql+psycopg"
# Where Debian and Ubuntu put the server binaries (not on PATH by default).
DISTRO_BIN_DIRS = "/usr/lib/postgresql/*/bin"
# --no-locale: C collation, so strings sort by code point as SQLite compares them.
INITDB_OPTIONS = ("--username=postgres", "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync")
# Nobody needs durability from a database deleted at the end of the run; these make
# CREATE DATABASE and every commit cheap.
SERVER_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")

# The ``backend`` fixture of tests/integration runs each database test on both; a test
# about one backend's own behaviour pins it by parametrising ``backend`` directly.
BACKENDS = ("sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql))
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])
POSTGRESQL_ONLY = pytest.mark.parametrize("backend", [BACKENDS[1]])
NewDatabase = Callable[[str], str]
"""The ``new_database`` fixture: makes an empty database, returns its URL (the argument
names the SQLite file, relative to ``tmp_path``)."""


@dataclass
class _Leg:
    """What the end-of-run summary reports."""

    skipped: bool = False
    server: str = ""
    handed_out: int = 0


_LEG = _Leg()


def find_postgres_bin() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: on PATH first, else the newest distro one."""
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)  # /usr/local/bin/initdb may be a symlink

    def version(path: Path) -> tuple[int, str]:
        name = path.parent.name
        return (int(name) if name.isdigit() else -1, name)

    candidates += sorted(Path("/").glob(DISTRO_BIN_DIRS.lstrip("/")), key=version, reverse=True)
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _server_user() -> dict[str, Any]:
    """``subprocess`` arguments that run the server's commands as ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return {}
    try:
        owner = pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root, and there is no 'postgres' user to run PostgreSQL as") from None
    return {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}


@contextlib.contextmanager
def throwaway_cluster(bin_dir: Path) -> Iterator[URL]:
    """Run a fresh cluster until the block ends; yields the URL of its ``postgres`` database.

    initdb refuses to run as root, so as root the cluster belongs to the ``postgres``
    system user and every server command runs as that user.
    """
    as_user = _server_user()
    root = Path(tempfile.mkdtemp(prefix="dps-pg-"))
    data, log = root / "data", root / "server.log"
    if as_user:
        os.chown(root, as_user["user"], as_user["group"])

    def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
        # cwd: the server's user may not be allowed into the caller's working directory.
        return subprocess.run(
            [str(a) for a in args], cwd=root, capture_output=True, text=True, timeout=120, **as_user
        )

    pg_ctl = bin_dir / "pg_ctl"
    port = 0
    try:
        init = run(bin_dir / "initdb", "-D", data, *INITDB_OPTIONS)
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{init.stderr or init.stdout}")
        for _attempt in range(3):  # another process may bind the free port before the server does
            candidate = _free_port()
            settings = (f"port={candidate}", "listen_addresses=127.0.0.1", f"unix_socket_directories={root}")
            options = " ".join(f"-c {setting}" for setting in (*settings, *SERVER_SETTINGS))
            if run(pg_ctl, "start", "-D", data, "-l", log, "-w", "-o", options).returncode == 0:
                port = candidate
                break
        if not port:
            detail = log.read_text(errors="replace") if log.exists() else "(no server log)"
            raise RuntimeError(f"the throwaway PostgreSQL server did not start:\n{detail}")
        yield URL.create(DRIVER, username="postgres", host="127.0.0.1", port=port, database="postgres")
    finally:
        if port:
            run(pg_ctl, "stop", "-D", data, "-m", "immediate")
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class PostgresDatabases:
    """Empty databases on the test server, each used by one test at a time.

    CREATE DATABASE costs about a quarter of a second (it copies ``template1``), more than
    most tests, while dropping and recreating the ``public`` schema takes milliseconds. So a
    released database is emptied that way and handed to the next test; a new one is created
    only when every existing one is in use. Names are unique to this process.
    """

    url: URL
    _free: list[str] = field(default_factory=list)
    _numbers: Iterator[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        # CREATE and DROP DATABASE cannot run inside a transaction block.
        self._admin = sa.create_engine(self.url, isolation_level="AUTOCOMMIT", pool_size=1)

    def acquire(self) -> str:
        """The URL of an empty database for one test; give it back with ``release``."""
        if self._free:
            name = self._free.pop()
        else:
            name = f"{DATABASE}_{os.getpid()}_{next(self._numbers)}"
            with self._admin.connect() as admin:
                admin.exec_driver_sql(f"CREATE DATABASE {name}")
        _LEG.handed_out += 1
        return self._url(name)

    def release(self, url: str) -> None:
        """Empty a database for the next test (or drop it if it cannot be emptied)."""
        name = make_url(url).database
        assert name is not None
        try:
            with self._admin.connect() as admin:
                # Connections a test left open would hold locks (and see the next test's data).
                admin.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
                        " WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": name},
                )
                admin.exec_driver_sql(f"ALTER DATABASE {name} RESET ALL")  # settings a test made
            engine = sa.create_engine(self._url(name), isolation_level="AUTOCOMMIT", poolclass=NullPool)
            try:
                with engine.connect() as connection:
                    connection.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
            finally:
                engine.dispose()
        except sa.exc.SQLAlchemyError:
            self._drop(name)  # e.g. a user who does not own the schema (PostgreSQL < 15)
        else:
            self._free.append(name)

    def close(self) -> None:
        """Drop the databases (they would outlive the run on a ``DPS_TEST_POSTGRES_URL`` server)."""
        while self._free:
            self._drop(self._free.pop())
        self._admin.dispose()

    def _drop(self, name: str) -> None:
        with self._admin.connect() as admin:
            # FORCE (PostgreSQL 13+) ends the connections a test left open.
            admin.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def _url(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)


def postgres_required() -> bool:
    """Whether a missing PostgreSQL is a failure (CI) rather than a skip (a laptop)."""
    return os.environ.get(ENV_REQUIRE, "").strip().lower() in ("1", "true", "yes")


def postgres_missing() -> None:
    """Skip the PostgreSQL test, or fail it when the leg is required; never returns."""
    if postgres_required():
        pytest.fail(f"{SKIP_REASON}, and {ENV_REQUIRE} requires it (install PostgreSQL or set {ENV_URL})")
    _LEG.skipped = True
    pytest.skip(SKIP_REASON)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of an empty ``dps_test`` database on a PostgreSQL server for this session."""
    given = os.environ.get(ENV_URL)
    if given:
        url = make_url(given)
        if url.drivername in ("postgres", "postgresql"):  # the bare schemes libpq tools print
            url = url.set(drivername=DRIVER)
        _LEG.server = f"{ENV_URL} ({url.render_as_string(hide_password=True)})"
        yield url.render_as_string(hide_password=False)
        return
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        postgres_missing()
    with throwaway_cluster(bin_dir) as server:
        engine = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql(f"CREATE DATABASE {DATABASE}")
                version = connection.exec_driver_sql("SHOW server_version").scalar()
        finally:
            engine.dispose()
        _LEG.server = f"a throwaway PostgreSQL {version} on 127.0.0.1:{server.port} ({bin_dir})"
        yield server.set(database=DATABASE).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_databases(postgres_url: str) -> Iterator[PostgresDatabases]:
    """Fresh databases on the session's server (see ``PostgresDatabases``)."""
    databases = PostgresDatabases(make_url(postgres_url))
    try:
        yield databases
    finally:
        databases.close()


# Outermost wrapper: printed after pytest's own summary, just above the final counts.
@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> Iterator[None]:
    """Say whether the PostgreSQL leg ran; if it was skipped, say so loudly."""
    yield
    if _LEG.skipped:
        skipped = sum(
            1
            for report in terminalreporter.stats.get("skipped", [])
            if SKIP_REASON in str(getattr(report, "longrepr", ""))
        )
        terminalreporter.write_sep("=", "POSTGRESQL LEG SKIPPED", red=True, bold=True)
        for line in (
            f"{skipped} tests were skipped: no initdb and pg_ctl on PATH or in {DISTRO_BIN_DIRS}.",
            "The storage, alerts and delivery suites ran against SQLite ONLY.",
            "Install PostgreSQL (apt-get install postgresql; .ci/run tries this itself)",
            f"or point {ENV_URL} at a server where the user may create databases.",
        ):
            terminalreporter.write_line(f"!!! {line}", red=True, bold=True)
        terminalreporter.write_sep("=", "POSTGRESQL LEG SKIPPED", red=True, bold=True)
    elif _LEG.server:
        terminalreporter.write_line(
            f"PostgreSQL leg: {_LEG.handed_out} test databases on {_LEG.server}", cyan=True
        )
