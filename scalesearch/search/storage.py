"""Where a run's Optuna trials live: storage URLs checked before use, passwords kept off disk,
the default SQLite store recorded relative to its run directory, and stores read without writing.

- :func:`check_url`: a URL that cannot work (unparseable, unknown database, driver not installed,
  SQLite file in a missing directory) is one line naming what to do, before anything is written.
- :func:`masked`: the URL as run.json keeps it and messages show it (``user:***@host``).
- :func:`recorded` / :func:`resolve`: run.json's ``storage`` is ``study.db`` (relative to the run
  directory) for the default store, so a copied or moved run reads its own database.
- :func:`check_sqlite`: a SQLite file is an Optuna store (or empty, to be created), else it is
  another tool's file and is refused; when reading, it must exist and hold a study.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from scalesearch.errors import ScalesearchError, UsageError

DEFAULT_STORE = "study.db"
"""run.json's ``storage`` for the default store: a file of the run directory."""

OPTUNA_TABLES = frozenset(
    {
        "alembic_version",
        "studies",
        "study_directions",
        "study_system_attributes",
        "study_user_attributes",
        "trial_heartbeats",
        "trial_intermediate_values",
        "trial_params",
        "trial_system_attributes",
        "trial_user_attributes",
        "trial_values",
        "trials",
        "version_info",
    }
)

DRIVER_PACKAGES = {
    "psycopg": "psycopg[binary] (or use postgresql+psycopg2:// with psycopg2-binary)",
    "psycopg2": "psycopg2-binary",
    "MySQLdb": "mysqlclient (or use mysql+pymysql:// with pymysql)",
    "pymysql": "pymysql",
    "mysql": "mysql-connector-python",
    "cx_Oracle": "cx_Oracle",
    "oracledb": "oracledb",
    "pyodbc": "pyodbc",
}


class StoreError(ScalesearchError):
    """A run's store cannot be used: missing, empty, damaged, or another tool's file."""


def _parse(url: str) -> Any:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        raise UsageError(
            f"--storage {masked(url)}: not a database URL; expected e.g. sqlite:///runs/x/study.db "
            "or postgresql://user:password@host/db"
        ) from None


def masked(url: str) -> str:
    """``url`` with its password replaced by ``***`` (unchanged when it has none or does not parse)."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except Exception:
        return url if "@" not in url else "(storage URL not shown: it may hold a password)"
    if parsed.password is None:
        return url
    return str(parsed.render_as_string(hide_password=True))


def is_masked(url: str) -> bool:
    """True when ``url`` is a URL as run.json keeps it, its password masked: it cannot be opened."""
    return ":***@" in url


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL; None for other databases and for in-memory SQLite."""
    parsed = _parse(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def check_url(url: str) -> None:
    """Refuse a storage URL that cannot work, naming the package to install for a missing driver."""
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    parsed = _parse(url)
    shown = masked(url)
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        raise UsageError(
            f"--storage {shown}: unknown database {parsed.drivername!r}; "
            "use sqlite:///PATH, postgresql://... or mysql://..."
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError as err:
        module = (getattr(err, "name", None) or str(err)).split(".")[0]
        package = DRIVER_PACKAGES.get(module, module)
        raise UsageError(
            f"--storage {shown}: its database driver {module!r} is not installed; pip install {package}"
        ) from None
    try:
        dialect().create_connect_args(parsed)
    except ArgumentError as err:
        raise UsageError(f"--storage {shown}: {str(err).splitlines()[0]}") from None
    path = sqlite_file(url)
    if path is not None:
        if not path.parent.is_dir():
            raise UsageError(f"--storage {shown}: directory {path.parent} does not exist")
        if path.is_dir():
            raise UsageError(f"--storage {shown}: {path} is a directory, not a database file")


def recorded(url: str, run_dir: Path) -> str:
    """What run.json keeps for ``url``: ``study.db`` for the run's own default store, else the
    URL with its password masked."""
    path = sqlite_file(url) if url.startswith("sqlite") else None
    if path is not None and path.resolve() == (run_dir / DEFAULT_STORE).resolve():
        return DEFAULT_STORE
    return masked(url)


def resolve(storage: str, run_dir: Path) -> str:
    """The URL to open from run.json's ``storage`` (relative default, or an older absolute path
    whose run directory was copied or moved)."""
    if storage == DEFAULT_STORE:
        return f"sqlite:///{(run_dir / DEFAULT_STORE).resolve()}"
    if storage.startswith("sqlite"):
        path = sqlite_file(storage)
        own = run_dir / DEFAULT_STORE
        if path is not None and path.name == DEFAULT_STORE and own.exists():
            return f"sqlite:///{own.resolve()}"  # an older run.json: its default store, moved along
    return storage


def is_default(storage: str, run_dir: Path) -> bool:
    """True when run.json's ``storage`` names the run's own default store (new or older form)."""
    if storage == DEFAULT_STORE:
        return True
    try:
        path = sqlite_file(storage) if storage.startswith("sqlite") else None
    except UsageError:
        return False
    return (
        path is not None
        and path.name == DEFAULT_STORE
        and (path.resolve() == (run_dir / DEFAULT_STORE).resolve() or not path.exists())
    )


def _tables(path: Path) -> set[str]:
    """The tables of the SQLite file at ``path``, read without writing; StoreError when damaged."""
    try:
        with open(path, "rb") as f:
            header = f.read(16)
    except OSError as err:
        raise StoreError(f"{path}: cannot be read ({err.strerror})") from None
    if header and header != b"SQLite format 3\x00":
        raise StoreError(f"{path}: not an SQLite database (another tool's file, or overwritten)")
    if not header:
        return set()
    try:
        con = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, timeout=60)
        try:
            names = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
            bad = con.execute("pragma quick_check").fetchone()
        finally:
            con.close()
    except sqlite3.DatabaseError as err:
        raise StoreError(f"{path}: damaged SQLite database ({err})") from None
    if bad and bad[0] != "ok":
        raise StoreError(f"{path}: damaged SQLite database (truncated or corrupt: {bad[0]})")
    return names


def check_sqlite(path: Path, *, reading: bool, studies: set[str] | None = None) -> None:
    """``path`` may be used as this run's Optuna store.

    Writing (``reading=False``): a missing or empty file, or an Optuna database whose studies
    are among ``studies`` (None: any study, a shared store), else StoreError: never add Optuna's
    tables to another tool's file. Reading: it must exist and hold Optuna's tables.
    """
    if path.is_dir():
        raise StoreError(f"{path}: a directory where the run's SQLite database goes")
    if not path.exists():
        if reading:
            raise StoreError(f"{path}: the run's trial database is missing")
        return
    tables = _tables(path)
    foreign = tables - OPTUNA_TABLES
    if foreign:
        raise StoreError(
            f"{path}: an SQLite database of another tool (tables {', '.join(sorted(foreign)[:3])}); "
            "refusing to add a study to it"
        )
    if "studies" not in tables:
        if reading:
            raise StoreError(f"{path}: empty database, no Optuna study in it")
        return
    if studies is not None:
        con = sqlite3.connect(f"file:{path.resolve()}?mode=ro", uri=True, timeout=60)
        try:
            names = {r[0] for r in con.execute("select study_name from studies")}
        finally:
            con.close()
        other = names - studies
        if other:
            raise StoreError(
                f"{path}: holds the Optuna studies of another run ({', '.join(sorted(other)[:3])}); "
                "use another --out"
            )


def writable_dir(path: Path, what: str) -> None:
    """``path`` is (or can be made) a directory this process may write into."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{what} {path}: is a file, not a directory")
    ancestor = path
    while not ancestor.exists():
        if ancestor.parent == ancestor:
            break
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise UsageError(f"{what} {path}: cannot be made, {ancestor} is a file")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path}: {ancestor} is not writable")
