"""A throwaway PostgreSQL/PostGIS server for tests (pytest plugin).

Register it with ``pytest_plugins = ["tests.postgis_server"]`` in the root conftest (or import
:func:`postgis_url` there). The session fixture ``postgis_url`` creates a cluster in a temporary
folder with ``initdb``, starts it on a free loopback port (as root: as the ``postgres`` system
user, since PostgreSQL refuses to run as root), enables PostGIS and yields
``postgresql://postgres@127.0.0.1:PORT/postgres``; the server is stopped and its folder removed
at the end of the session.

When PostgreSQL or PostGIS is missing, it is installed with ``scripts/install-system-deps.sh
postgis`` if the tests run as root; otherwise the tests are skipped with the reason — or fail
when the ``CI`` environment variable is set, so CI never silently skips them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

__all__ = ["find_postgres_bin", "postgis_url"]

REPO = Path(__file__).resolve().parents[1]
INSTALL_SCRIPT = REPO / "scripts" / "install-system-deps.sh"


def find_postgres_bin() -> tuple[Path | None, str]:
    """The bin folder of the newest PostgreSQL with PostGIS, or ``None`` and what is missing."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: _version_key(p.parts[-3]),
        reverse=True,
    )
    if not versions:
        found = shutil.which("initdb")
        if found is None:
            return None, "PostgreSQL server (initdb) not found under /usr/lib/postgresql/*/bin"
        versions = [Path(found)]
    for initdb in versions:
        major = initdb.parts[-3]
        shares = [Path(f"/usr/share/postgresql/{major}/extension"), *_pg_config_share(initdb)]
        if any((share / "postgis.control").is_file() for share in shares):
            return initdb.parent, ""
    return None, f"PostGIS extension not installed for PostgreSQL in {versions[0].parent}"


def _version_key(text: str) -> tuple[int, ...]:
    """'15' -> (15,), '9.6' -> (9, 6); non-numbers sort first."""
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return (-1,)


def _pg_config_share(initdb: Path) -> list[Path]:
    """The extension folder pg_config reports beside *initdb*, if any."""
    pg_config = initdb.parent / "pg_config"
    if not pg_config.is_file():
        return []
    result = subprocess.run(
        [str(pg_config), "--sharedir"], capture_output=True, text=True, check=False
    )
    return [Path(result.stdout.strip()) / "extension"] if result.returncode == 0 else []


def _unavailable(reason: str) -> NoReturn:
    """Skip (or fail under CI) with *reason*."""
    message = f"PostGIS tests need a local PostgreSQL + PostGIS: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message + " (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(message + "; install with `sudo scripts/install-system-deps.sh postgis`")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(argv: list[str], *, as_postgres: bool) -> subprocess.CompletedProcess[str]:
    """Run *argv*, as the ``postgres`` system user when the tests run as root."""
    if as_postgres:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, check=False, cwd="/")


@pytest.fixture(scope="session")
def postgis_url() -> Iterator[str]:
    """URL of a fresh PostGIS database on a throwaway local server (session-scoped)."""
    bindir, reason = find_postgres_bin()
    is_root = hasattr(os, "geteuid") and os.geteuid() == 0
    if bindir is None and is_root and INSTALL_SCRIPT.is_file():
        subprocess.run(["bash", str(INSTALL_SCRIPT), "postgis"], check=False)
        bindir, reason = find_postgres_bin()
    if bindir is None:
        _unavailable(reason)
    if is_root:
        try:
            import pwd

            postgres_user = pwd.getpwnam("postgres")
        except KeyError:
            _unavailable("running as root but there is no `postgres` system user to run initdb")
    base = Path(tempfile.mkdtemp(prefix="fiveplans-pg-"))
    if is_root:
        os.chown(base, postgres_user.pw_uid, postgres_user.pw_gid)
    data, log = base / "data", base / "server.log"
    try:
        init = _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
            ],
            as_postgres=is_root,
        )
        if init.returncode != 0:
            _unavailable(f"initdb failed: {init.stderr.strip() or init.stdout.strip()}")
        port = 0
        for _attempt in range(3):
            port = _free_port()
            options = (
                f"-p {port} -k {base} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            start = _run(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-w",
                    "-o",
                    options,
                    "start",
                ],
                as_postgres=is_root,
            )
            if start.returncode == 0:
                break
        else:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            _unavailable(f"pg_ctl start failed: {start.stderr.strip()}\n{server_log}")
        url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        try:
            import psycopg

            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            yield url
        finally:
            _run(
                [str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                as_postgres=is_root,
            )
    finally:
        shutil.rmtree(base, ignore_errors=True)
