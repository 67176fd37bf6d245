"""Opening Vigil's DuckDB file: private file modes, versioned migrations per component, clear lock errors.

One process owns the file read-write (DuckDB refuses a second process even read-only); threads in that process
share it through `cursor()`s, and exactly one of them — the writer — writes.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from store.analyst_sql import SEALED_CONFIG
from store.schema import alerts_ddl, events_ddl
from store.sources.base import FileCheckpoint

Migration = tuple[int, str]  # (version, SQL — may hold several statements separated by ';')

CORE_MIGRATIONS: list[Migration] = [
    (
        1,
        ";\n".join(
            [
                events_ddl(),
                alerts_ddl(),
                """CREATE TABLE IF NOT EXISTS file_checkpoints (
                    fingerprint VARCHAR PRIMARY KEY, fp_len INTEGER, path VARCHAR, dev UBIGINT,
                    inode UBIGINT, "offset" BIGINT, size BIGINT, compressed BOOLEAN, lost_bytes BIGINT,
                    updated_at TIMESTAMPTZ)""",
            ]
        ),
    ),
    # The normalised columns every parser fills (store.parsers.normalise), which rules match across services.
    (2, 'ALTER TABLE events ADD COLUMN IF NOT EXISTS service VARCHAR;\n'
        'ALTER TABLE events ADD COLUMN IF NOT EXISTS "action" VARCHAR'),
]


class StoreError(Exception):
    """A store problem a person can act on; the message says what and where."""


class StoreLockedError(StoreError):
    pass


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "vigil"


def default_db_path() -> Path:
    return default_data_dir() / "vigil.duckdb"


@contextlib.contextmanager
def _private_umask() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def _lock_message(path: Path, exc: Exception) -> str:
    m = re.search(r"PID (\d+)", str(exc))
    holder = f" (pid {m.group(1)})" if m else ""
    return (
        f"{path} is open in another Vigil process{holder}: DuckDB allows one process per file. "
        "Stop that process, or run your query from its console (`;` SQL prompt)."
    )


def _first_file(path: Path) -> Path:
    """The first component of `path` that exists and is not a directory (what blocks creating it)."""
    for parent in reversed([path, *path.parents]):
        if parent.exists() and not parent.is_dir():
            return parent
    return path


class Store:
    """The DuckDB file. `con` belongs to the thread that opened the store (the writer, in the engine);
    every other thread reads through `cursor()`."""

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection, read_only: bool) -> None:
        self.path = path
        self.con = con
        self.read_only = read_only

    @classmethod
    def open(
        cls,
        path: str | Path | None = None,
        *,
        read_only: bool = False,
        migrations: Mapping[str, Sequence[Migration]] | None = None,
        memory_limit: str | None = None,
        threads: int | None = None,
        sealed: bool = False,
    ) -> Store:
        """`sealed`: DuckDB refuses file access, extensions and `SET` for the life of the connection (what
        analyst SQL needs; see store.analyst_sql). Commands that COPY or read Parquet open unsealed."""
        db_path = Path(path) if path else default_db_path()
        if read_only and not db_path.exists():
            raise StoreError(f"no Vigil store at {db_path} (nothing has been ingested there yet)")
        config: dict[str, str | bool | int | float | list[str]] = {}
        # Set in the connect config so they also govern WAL replay after a crash.
        if memory_limit:
            config["memory_limit"] = memory_limit
        if threads:
            config["threads"] = threads
        # Air-gapped sites: never try to download an extension.
        config["autoinstall_known_extensions"] = False
        if sealed:
            config.update(SEALED_CONFIG)
        if not read_only:
            try:
                with _private_umask():
                    db_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            except FileExistsError:
                raise StoreError(f"cannot create the store {db_path}: {_first_file(db_path.parent)} is a file, "
                                 "not a directory") from None
            except OSError as exc:
                raise StoreError(f"cannot create the store {db_path}: {exc.strerror or exc}") from None
            if db_path.is_dir():
                raise StoreError(f"cannot open the store {db_path}: it is a directory; give a file path") from None
        try:
            with _private_umask():
                con = duckdb.connect(str(db_path), read_only=read_only, config=config)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreLockedError(_lock_message(db_path, exc)) from exc
            raise StoreError(f"cannot open {db_path}: {exc}") from exc
        except duckdb.Error as exc:
            raise StoreError(f"cannot open {db_path}: {exc}") from exc
        store = cls(db_path, con, read_only)
        if not read_only:
            for p in (db_path, Path(str(db_path) + ".wal")):
                if p.exists():
                    os.chmod(p, 0o600)
            store.migrate({"store": CORE_MIGRATIONS, **(migrations or {})})
        return store

    def migrate(self, components: Mapping[str, Sequence[Migration]]) -> list[str]:
        """Apply pending migrations, each in its own transaction, recording (component, version)."""
        con = self.con
        con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (component VARCHAR, version INTEGER, "
            "applied_at TIMESTAMPTZ, PRIMARY KEY (component, version))"
        )
        applied = {(c, v) for c, v in con.execute("SELECT component, version FROM schema_version").fetchall()}
        done: list[str] = []
        for component, steps in components.items():
            for version, sql in sorted(steps):
                if (component, version) in applied:
                    continue
                con.execute("BEGIN")
                try:
                    for stmt in (s.strip() for s in sql.split(";\n")):
                        if stmt:
                            con.execute(stmt)
                    con.execute(
                        "INSERT INTO schema_version VALUES (?, ?, ?)", [component, version, datetime.now(UTC)]
                    )
                    con.execute("COMMIT")
                except duckdb.Error as exc:
                    con.execute("ROLLBACK")
                    raise StoreError(f"migration {component} v{version} failed on {self.path}: {exc}") from exc
                done.append(f"{component} v{version}")
        return done

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self.con.cursor()

    def load_checkpoints(self) -> list[FileCheckpoint]:
        rows = self.cursor().execute(
            'SELECT fingerprint, fp_len, path, dev, inode, "offset", size, compressed, lost_bytes '
            "FROM file_checkpoints"
        ).fetchall()
        return [
            FileCheckpoint(
                fingerprint=r[0], fp_len=r[1], path=r[2], dev=r[3] or 0, inode=r[4] or 0, offset=r[5],
                size=r[6], compressed=bool(r[7]), lost_bytes=r[8] or 0,
            )
            for r in rows
        ]

    def max_id(self, table: str, column: str) -> int:
        row = self.cursor().execute(f"SELECT max({column}) FROM {table}").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def size_bytes(self) -> int:
        total = 0
        for p in (self.path, Path(str(self.path) + ".wal")):
            with contextlib.suppress(OSError):
                total += p.stat().st_size
        return total

    def close(self) -> None:
        # DuckDB checkpoints the WAL into the file on a clean close by itself (checkpoint_on_shutdown).
        self.con.close()
