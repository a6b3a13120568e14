"""`tracker backup FILE` and `tracker restore FILE [--force]`: a SQLite database to one file and back.

The backup is taken with SQLite's online backup API in one step, that is in one read
transaction: a snapshot of everything committed when it starts (the WAL's content included),
while the service goes on answering webhooks (in WAL mode a reader holds up no writer). The
copy is made in a hidden file beside the target, checked (`PRAGMA quick_check`), switched to
a single file (no -wal beside it) and only then renamed to the target's name, so a failed
copy never leaves half a file under that name.

A restore copies a backup in the same way, and refuses while anything still has the database
open: a running service would go on writing to the file that was replaced.

PostgreSQL has its own tools for both (pg_dump, pg_restore); the error says how to call them.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tracker.config import POSTGRES_SCHEMES
from tracker.errors import ConfigError
from tracker.storage import sqlite_path
from tracker.storage.sqlite import MIGRATIONS

# What SQLite keeps beside a database: a stale one beside a restored file would be replayed into it.
SIDE_FILES = ("-wal", "-shm", "-journal")
BUSY_SECONDS = 5.0  # as long as the service's busy_timeout
# PostgreSQL's own tools, as the error tells them; the URL comes from the environment, never printed.
PG_DUMP = 'pg_dump --format=custom --file={file} "$TRACKER_DATABASE_URL"'
PG_RESTORE = 'pg_restore --clean --if-exists --no-owner --single-transaction --dbname="$TRACKER_DATABASE_URL" {file}'


@dataclass(frozen=True, slots=True)
class BackupResult:
    """The file written (the backup, or the restored database) and what is in it."""

    path: Path
    size_bytes: int
    cases: int
    events: int

    def __str__(self) -> str:
        return f"{self.cases} case(s) and {self.events} event(s) in {self.path} ({self.size_bytes:,} bytes)"


def backup(database_url: str, target: Path, force: bool = False) -> BackupResult:
    """Copy the SQLite database of `database_url` to `target`, consistently, while the service runs."""
    file = _quoted(target)
    live = _sqlite_file(database_url, f"back it up with {PG_DUMP.format(file=file)} and restore that with "
                                      f"{PG_RESTORE.format(file=file)} (every instance stopped)")
    if not live.is_file():
        raise ConfigError(f"No SQLite database at {live}: check TRACKER_DATABASE_URL.")
    _require_free_target(target, live, force)
    with _reported("The backup"), closing(_connect_read_only(live)) as source:
        _require_sqlite(source, live)
        return _copy_into_place(source, target)


def restore(database_url: str, source: Path, force: bool = False) -> BackupResult:
    """Replace the SQLite database of `database_url` with the backup at `source` (stop the service first)."""
    file = _quoted(source)
    destination = _sqlite_file(database_url, f"stop every instance, then restore with {PG_RESTORE.format(file=file)} "
                                             f"(a dump made with {PG_DUMP.format(file=file)})")
    if not source.is_file():
        raise ConfigError(f"No backup at {source}: name the file that tracker backup wrote.")
    _require_directory(destination)
    if _same_file(source, destination):
        raise ConfigError(f"{source} is the database itself: name the backup file to restore.")
    if _database_present(destination) and not force:
        raise ConfigError(f"There is already a database at {destination}: stop the service first, then restore "
                          f"with --force to replace it.")
    with _reported("The restore"), closing(_connect_read_only(source)) as backup_db:
        _require_known_schema(backup_db, source)
        _refuse_if_in_use(destination)  # before the copy, to fail fast
        return _copy_into_place(backup_db, destination, before_rename=lambda: _clear_for(destination))


def _require_free_target(target: Path, live: Path, force: bool) -> None:
    _require_directory(target)
    if target.is_dir():
        raise ConfigError(f"{target} is a directory: name a file in it, e.g. {target / 'tracker-backup.db'}.")
    if _same_file(target, live):
        raise ConfigError(f"{target} is the database itself: name another file for the backup.")
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists: name a new file for the backup, or remove that one first.")


def _sqlite_file(database_url: str, postgres_advice: str) -> Path:
    scheme = urlsplit(database_url).scheme
    if scheme in POSTGRES_SCHEMES:
        raise ConfigError(f"TRACKER_DATABASE_URL is a PostgreSQL database: {postgres_advice}.")
    if scheme != "sqlite":
        raise ConfigError(f"TRACKER_DATABASE_URL: no storage backend for {scheme!r}; use sqlite:///path.")
    return Path(sqlite_path(database_url))


def _quoted(path: Path) -> str:
    return shlex.quote(str(path))


def _require_directory(path: Path) -> None:
    if not path.parent.is_dir():
        raise ConfigError(f"No directory {path.parent}: create it first.")


def _same_file(one: Path, other: Path) -> bool:
    return one.exists() and other.exists() and os.path.samefile(one, other)


def _database_present(path: Path) -> bool:
    return any(Path(f"{path}{suffix}").exists() for suffix in ("", *SIDE_FILES))


@contextmanager
def _reported(what: str) -> Iterator[None]:
    """SQLite's and the file system's errors (a full disk, a locked file) as one line for the command line."""
    try:
        yield
    except (sqlite3.Error, OSError) as exc:
        raise ConfigError(f"{what} failed: {exc}.") from exc


def _connect_read_only(path: Path) -> sqlite3.Connection:
    # By URI with mode=ro: the backup can never write to the live database (or create one).
    return sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True, timeout=BUSY_SECONDS,
                           isolation_level=None)


def _require_sqlite(db: sqlite3.Connection, path: Path) -> int:
    """The schema version (PRAGMA user_version) of a SQLite database; anything else is refused."""
    try:
        return int(db.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.DatabaseError:
        raise ConfigError(f"{path} is not a SQLite database: name a file that tracker backup wrote.") from None


def _require_known_schema(db: sqlite3.Connection, path: Path) -> None:
    """An older schema is fine (the service migrates it when it opens); a newer one it cannot read."""
    version = _require_sqlite(db, path)
    if version == 0:
        raise ConfigError(f"{path} is a SQLite database but not tracker's (it has no schema version).")
    if version > len(MIGRATIONS):
        raise ConfigError(f"{path} was written by a newer tracker (schema version {version}; this one knows up to "
                          f"{len(MIGRATIONS)}): restore it with that version of tracker.")


def _refuse_if_in_use(path: Path) -> None:
    """Refuse while any process has the database open. In WAL mode every open connection holds a
    shared lock on the file for its whole life, so an exclusive lock is granted only to the last one."""
    if not path.exists():
        return
    db = sqlite3.connect(path.resolve().as_uri() + "?mode=rw", uri=True, timeout=0, isolation_level=None)
    try:
        db.execute("PRAGMA locking_mode = EXCLUSIVE")
        db.execute("BEGIN EXCLUSIVE")
        db.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        if "locked" not in str(exc):
            raise
        raise ConfigError(f"The database at {path} is in use (is tracker still running?): stop the service first, "
                          f"then restore.") from None
    except sqlite3.DatabaseError:
        return  # not a database at all: nothing can be using it as one, and --force replaces it
    finally:
        db.close()  # when it was the last connection, SQLite checkpoints the old WAL and removes it


def _clear_for(destination: Path) -> None:
    """Just before the rename: nobody may have the old database open, and none of its side files
    may stay (SQLite would apply an old WAL or journal to the restored file)."""
    _refuse_if_in_use(destination)
    for suffix in SIDE_FILES:
        Path(f"{destination}{suffix}").unlink(missing_ok=True)


def _copy_into_place(source: sqlite3.Connection, target: Path,
                     before_rename: Callable[[], None] = lambda: None) -> BackupResult:
    partial = _partial_file_beside(target)
    try:
        cases, events = _copy(source, partial)
        _keep_permissions(partial, target)
        before_rename()
        os.replace(partial, target)
    except BaseException:
        _remove_with_side_files(partial)
        raise
    _sync_directory(target.parent)  # the rename itself survives a power cut
    return BackupResult(target, target.stat().st_size, cases, events)


def _partial_file_beside(target: Path) -> Path:
    # Beside the target: on the same file system, so the final rename is atomic.
    descriptor, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(descriptor)
    return Path(name)


def _copy(source: sqlite3.Connection, partial: Path) -> tuple[int, int]:
    """Copy `source` into the empty file `partial`, check it and count what it holds."""
    with closing(sqlite3.connect(partial, isolation_level=None)) as copy:
        # pages=-1: every page in one step, so one read transaction and one snapshot. Copied in
        # several steps, each write of the service between two steps would start the copy over.
        source.backup(copy, pages=-1)
        copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file; the service turns WAL back on
        _require_intact(copy)
        return _count(copy, "cases"), _count(copy, "events")


def _require_intact(copy: sqlite3.Connection) -> None:
    try:
        problems = [row[0] for row in copy.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:  # damage the check itself cannot read past
        problems = [str(exc)]
    if problems != ["ok"]:
        first = " ".join(str(problems[0]).split())[:200]  # one line: SQLite's report may hold several
        raise ConfigError(f"The copy is damaged ({first}), so the database it came from may be too: "
                          f"check it with PRAGMA integrity_check.")


def _count(db: sqlite3.Connection, table: str) -> int:
    if db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone() is None:
        return 0  # a schema too old (or too new) to have the table
    return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _keep_permissions(partial: Path, target: Path) -> None:
    """A replaced file keeps its mode and, where allowed, its owner: a restore run as root must not
    leave the service's user a database it cannot open. A new file stays readable by its owner only
    (mkstemp's 0600): a backup holds the signing key and the helpdesks' secrets."""
    if not target.exists():
        return
    kept = target.stat()
    os.chmod(partial, stat.S_IMODE(kept.st_mode))
    try:
        os.chown(partial, kept.st_uid, kept.st_gid)
    except PermissionError:
        pass  # not root: the file is ours, as anything we write


def _remove_with_side_files(path: Path) -> None:
    for suffix in ("", *SIDE_FILES):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _sync_directory(directory: Path) -> None:
    if os.name != "posix":
        return  # elsewhere a directory cannot be opened to be synced
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
