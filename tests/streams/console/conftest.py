"""A real PostgreSQL 15 for the store tests: Debian's server, started on loopback in a temp dir."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.kafka.broker import free_port

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
DATABASE = "turnwatch_test"


def as_server_user() -> list[str]:
    """PostgreSQL refuses to run as root: run its programs as the postgres user then."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def run(command: list[str | Path]) -> None:
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} exited {done.returncode}:\n{done.stdout}{done.stderr}")


def require_postgres_binaries() -> None:
    missing = [name for name in ("initdb", "pg_ctl", "createdb") if not (POSTGRES_BIN / name).is_file()]
    if not missing:
        return
    message = f"PostgreSQL 15 is not installed ({', '.join(missing)} missing from {POSTGRES_BIN})"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; .ci/run installs postgresql (apt-get install postgresql)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """postgresql+psycopg://postgres@127.0.0.1:PORT/turnwatch_test on a throwaway server (trust auth, fsync off)."""
    require_postgres_binaries()
    # Not under pytest's tmp dirs: those are private to root, and the server runs as postgres.
    base = Path(tempfile.mkdtemp(prefix="turnwatch-pg-"))
    if os.geteuid() == 0:
        server_user = pwd.getpwnam("postgres")
        os.chown(base, server_user.pw_uid, server_user.pw_gid)
    data, port = base / "data", free_port()
    server_options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base} -c fsync=off"
    try:
        run([*as_server_user(), POSTGRES_BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"])
        start = [*as_server_user(), POSTGRES_BIN / "pg_ctl", "-D", data, "-l", base / "server.log", "-w", "-t", "60"]
        try:
            run([*start, "-o", server_options, "start"])
        except RuntimeError as exc:
            log = base / "server.log"
            raise RuntimeError(f"{exc}\n{log.read_text() if log.exists() else ''}") from None
        try:
            run([POSTGRES_BIN / "createdb", "-h", "127.0.0.1", "-p", port, "-U", "postgres", DATABASE])
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/{DATABASE}"
        finally:
            run([*as_server_user(), POSTGRES_BIN / "pg_ctl", "-D", data, "stop", "-m", "fast"])
    finally:
        shutil.rmtree(base, ignore_errors=True)
