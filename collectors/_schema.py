"""Applies collectors/schema.sql (see the public :mod:`.schema`) and its migrations to a DuckDB connection; checks the version.

``schema.sql`` always describes the newest schema (``SCHEMA_VERSION``); a database at an older
version is upgraded with ``migrations/NNN_*.sql`` (NNN = the version it brings the DB to), one
transaction per step. A database at a newer version is refused, never touched.
"""

from __future__ import annotations

import logging
import re
from importlib import resources

import duckdb

from ._errors import SchemaVersionError, StorageError
from .schema import LOG_TABLE, METRIC_TABLES, SCHEMA_VERSION, TABLES, TRACE_TABLE, schema_sql

logger = logging.getLogger(__name__)

_MIGRATION_RE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


def migrations() -> dict[int, str]:
    """``{target_version: sql}`` for every file in collectors/migrations/."""
    out: dict[int, str] = {}
    folder = resources.files(__package__).joinpath("migrations")
    if not folder.is_dir():  # an install without the folder can still open current-version files
        return out
    for entry in folder.iterdir():
        m = _MIGRATION_RE.match(entry.name)
        if m:
            out[int(m.group(1))] = entry.read_text(encoding="utf-8")
    return out


def current_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The schema version stored in the DB, or None for a DB that has no infersight tables yet."""
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'infersight_schema'"
    ).fetchone()
    if not row or row[0] == 0:
        return None
    row = con.execute("SELECT max(version) FROM infersight_schema").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def ensure_schema(con: duckdb.DuckDBPyConnection, *, path: str = "<memory>") -> int:
    """Create or upgrade the schema; return the version. Raises SchemaVersionError for newer DBs."""
    version = current_version(con)
    if version is not None and version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"{path} has schema version {version}, this infersight understands up to "
            f"{SCHEMA_VERSION}; upgrade infersight (the file was left untouched)"
        )
    try:
        if version is None:
            con.execute("BEGIN TRANSACTION")
            con.execute(schema_sql())
            con.execute("INSERT INTO infersight_schema (version) VALUES (?)", [SCHEMA_VERSION])
            con.execute("COMMIT")
            logger.info("created infersight schema v%d in %s", SCHEMA_VERSION, path)
            return SCHEMA_VERSION
        steps = migrations() if version < SCHEMA_VERSION else {}
        while version < SCHEMA_VERSION:
            target = version + 1
            if target not in steps:
                raise StorageError(f"no migration to schema version {target} (from {version})")
            con.execute("BEGIN TRANSACTION")
            con.execute(steps[target])
            con.execute("INSERT INTO infersight_schema (version) VALUES (?)", [target])
            con.execute("COMMIT")
            logger.info("migrated %s to schema v%d", path, target)
            version = target
    except duckdb.Error as exc:
        try:
            con.execute("ROLLBACK")
        except duckdb.Error:
            pass
        raise StorageError(f"cannot set up the schema in {path}: {exc}") from exc
    return version


__all__ = ["LOG_TABLE", "METRIC_TABLES", "SCHEMA_VERSION", "TABLES", "TRACE_TABLE", "current_version",
           "ensure_schema", "migrations", "schema_sql"]
