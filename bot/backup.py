"""`python -m bot backup --out FILE` and `python -m bot restore FILE`.

A backup is one archive (`.tar.gz`, or `.zip` when FILE ends in `.zip`) holding

* `database/studio.db` — SQLite: an online copy made with SQLite's backup API (a consistent
  snapshot even while the bot writes), or
  `database/tables.json` — PostgreSQL: every table's rows, read through SQLAlchemy in one REPEATABLE
  READ, read-only transaction (the route into SQLite, and where pg_restore is missing), and, when
  `pg_dump` is installed, `database/studio.pgdump` — `pg_dump --format=custom`, restored into PostgreSQL
  with `pg_restore`;
* `materials/…` — every file under DATA_DIR/materials (the applicants' photos, videos and documents,
  stored under generated names), with the same relative paths as `Attachment.stored_path`;
* `manifest.json` — what is inside: sha256 and size of every file, the schema revision, row counts,
  and warnings (e.g. a file the database refers to that was missing when the backup was made).

The database is copied first and the materials after it: files are written before the row that refers to
them is committed and never change afterwards, so every file the copied database refers to is on disk
when the materials are read (unless it was removed in between, which is reported).

Restore checks every member against the manifest before anything is written, refuses a database that
already holds data unless `--force` (then the old SQLite file and the old materials folder are kept aside
under a `.before-restore-<time>` name), and checks every attachment's file afterwards. Stop the bot first.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import io
import json
import os
import shutil
import sqlite3
import sys
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import IO, Any

from sqlalchemy import MetaData, Table, func, insert, select, text, types
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from bot.config import Settings

FORMAT = "studio-bot-backup"
VERSION = 1
MANIFEST = "manifest.json"
SQLITE_MEMBER = "database/studio.db"
JSON_MEMBER = "database/tables.json"
PGDUMP_MEMBER = "database/studio.pgdump"
MATERIALS = "materials"
# Tables the bot fills by itself at start-up: rows only there still count as an empty database.
SEED_TABLES = {"alembic_version", "unions", "seasons"}
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A refusal or failure with one line for the operator."""


# --------------------------------------------------------------------------- command line


def add_parser(subparsers: Any) -> None:
    """Register `backup` and `restore` on the CLI's sub-parsers."""
    b = subparsers.add_parser("backup", help="write a consistent backup of the database and materials")
    b.add_argument("--out", required=True, type=Path, metavar="FILE",
                   help="the archive to write (.tar.gz, or .zip)")
    r = subparsers.add_parser("restore", help="restore a backup into DATA_DIR / DATABASE_URL (stop the bot first)")
    r.add_argument("file", type=Path, metavar="FILE", help="an archive written by `backup`")
    r.add_argument("--force", action="store_true",
                   help="replace a database that already holds data (the old one is kept aside)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the sub-command in `args.command`; 0 on success, 1 on a refusal or failure."""
    try:
        if args.command == "backup":
            report = asyncio.run(make_backup(settings, args.out))
            print(report.describe())
            for warning in report.warnings:
                print(f"warning: {warning}", file=sys.stderr)
            return 0
        if args.command == "restore":
            report = asyncio.run(restore_backup(settings, args.file, force=args.force))
            print(report.describe())
            for warning in report.warnings:
                print(f"warning: {warning}", file=sys.stderr)
            return 0
    except BackupError as exc:
        print(f"{args.command} failed: {exc}", file=sys.stderr)
        return 1
    raise ValueError(f"not a backup command: {args.command}")


@dataclass
class Report:
    action: str
    path: Path
    counts: dict[str, int] = field(default_factory=dict)
    files: int = 0
    size: int = 0
    warnings: list[str] = field(default_factory=list)

    def describe(self) -> str:
        rows = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()) if v)
        return (f"{self.action} {self.path}: {self.files} material file(s), {self.size} bytes; "
                f"rows: {rows or 'none'}")


# --------------------------------------------------------------------------- backup


def _sqlite_path(url: str) -> Path | None:
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        return None
    if not u.database or u.database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(u.database)


async def make_backup(settings: Settings, out: Path) -> Report:
    """Write the archive `out` (0600); safe while the bot runs. Every file is streamed from disk into the
    archive (never held in memory whole), hashed on the way."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = Report("backup written", out)
    manifest: dict[str, Any] = {"format": FORMAT, "version": VERSION,
                                "created_at": datetime.now(UTC).isoformat(timespec="seconds")}
    sqlite_path = _sqlite_path(settings.database_url)
    tmp_out = out.with_name(out.name + ".part")
    entries: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="studio-backup-") as tmp:
        if sqlite_path is not None:
            if not sqlite_path.exists():
                raise BackupError(f"no database at {sqlite_path}")
            db_file = Path(tmp) / "studio.db"
            await asyncio.to_thread(_sqlite_copy, sqlite_path, db_file)
            dump = await _dump_rows(f"sqlite+aiosqlite:///{db_file}", snapshot=False)
            manifest["database"] = {"kind": "sqlite", "member": SQLITE_MEMBER}
            db_member = SQLITE_MEMBER
        else:
            pg_file = Path(tmp) / "studio.pgdump"
            made, why = await _pg_dump(settings.database_url, pg_file)
            dump = await _dump_rows(settings.database_url, snapshot=True)  # after pg_dump: its rows' files exist
            db_file = Path(tmp) / "tables.json"
            with _private(db_file) as fh:  # always: the route into SQLite, and without pg_restore
                fh.write(json.dumps(dump, ensure_ascii=False, default=_json_default).encode())
            manifest["database"] = {"kind": "rows", "member": JSON_MEMBER}
            db_member = JSON_MEMBER
            if made:
                manifest["database"]["pg_dump"] = PGDUMP_MEMBER
            elif why:
                report.warnings.append(f"pg_dump failed ({why}); the rows alone were written")
        manifest["database"]["revision"] = dump["revision"]
        manifest["counts"] = report.counts = {name: len(rows) for name, rows in dump["tables"].items()}
        referenced = {row["stored_path"]: row["sha256"] for row in dump["tables"].get("attachments", [])}
        del dump
        with _ArchiveWriter(tmp_out) as writer:
            entries.append(await asyncio.to_thread(writer.add_file, db_member, db_file))
            if manifest["database"].get("pg_dump"):
                entries.append(await asyncio.to_thread(writer.add_file, PGDUMP_MEMBER, Path(tmp) / "studio.pgdump"))
            # materials, read after the database snapshot
            data_dir = Path(settings.data_dir)
            seen: set[str] = set()
            for path in _material_files(data_dir):
                rel = path.relative_to(data_dir).as_posix()
                try:
                    entry = await asyncio.to_thread(writer.add_file, rel, path)
                except FileNotFoundError:
                    continue  # removed while we were reading: not referenced any more, or reported below
                if rel in referenced and referenced[rel] != entry["sha256"]:
                    report.warnings.append(f"{rel}: content differs from the database's checksum")
                entries.append(entry)
                seen.add(rel)
            missing = sorted(set(referenced) - seen)
            for rel in missing:
                report.warnings.append(f"{rel}: referenced by the database but missing on disk")
            manifest["missing"] = missing
            manifest["files"] = entries
            report.files = sum(1 for e in entries if e["path"].startswith(MATERIALS + "/"))
            report.size = sum(int(e["size"]) for e in entries)
            manifest["warnings"] = report.warnings
            writer.add_bytes(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=1).encode())
    tmp_out.replace(out)
    return report


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A SQLAlchemy URL as a libpq connection string, the password passed in the environment (not on the
    command line, where `ps` shows it)."""
    u = make_url(url)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = str(u.password)
    return u.set(drivername="postgresql", password=None).render_as_string(hide_password=False), env


async def _pg_dump(url: str, out: Path) -> tuple[bool, str]:
    """`pg_dump --format=custom` into `out` when pg_dump is installed: (made, why not)."""
    exe = shutil.which("pg_dump")
    if exe is None:
        return False, ""
    dsn, env = _libpq(url)
    proc = await asyncio.create_subprocess_exec(
        exe, "--format=custom", "--no-owner", "--no-privileges", f"--file={out}", f"--dbname={dsn}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        return False, " ".join(err.decode(errors="replace").split())[:200]
    os.chmod(out, 0o600)
    return True, ""


async def _pg_restore(url: str, dump: Path) -> None:
    """`pg_restore --clean` of a pg_dump member into the PostgreSQL database, in one transaction."""
    exe = shutil.which("pg_restore") or "pg_restore"
    dsn, env = _libpq(url)
    proc = await asyncio.create_subprocess_exec(
        exe, "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction", f"--dbname={dsn}",
        str(dump), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE, env=env)
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise BackupError(f"pg_restore failed: {' '.join(err.decode(errors='replace').split())[:300]}")


def _private(path: Path) -> Any:
    """A new file only its owner can read (0600, whatever the umask)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "wb")


class _ArchiveWriter:
    """A `.tar.gz` (or `.zip`) written member by member, each streamed in chunks and hashed."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self.is_zip = out.name.endswith(".zip.part") or out.suffix == ".zip"
        self.stamp = int(datetime.now(UTC).timestamp())
        self.zip_time = datetime.fromtimestamp(self.stamp, UTC).timetuple()[:6]
        self.fh = _private(out)
        self.zf: zipfile.ZipFile | None = None
        self.tf: tarfile.TarFile | None = None
        if self.is_zip:
            self.zf = zipfile.ZipFile(self.fh, "w", compression=zipfile.ZIP_DEFLATED)
        else:
            self.tf = tarfile.open(fileobj=self.fh, mode="w:gz")

    def __enter__(self) -> _ArchiveWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self.zf is not None:
                self.zf.close()
            if self.tf is not None:
                self.tf.close()
        finally:
            self.fh.close()
        if exc[0] is not None:
            self.out.unlink(missing_ok=True)

    def add_file(self, name: str, path: Path) -> dict[str, Any]:
        digest = hashlib.sha256()
        with open(path, "rb") as src:
            size = os.fstat(src.fileno()).st_size
            if self.zf is not None:
                with self.zf.open(zipfile.ZipInfo(name, self.zip_time), "w", force_zip64=True) as dst:
                    while chunk := src.read(CHUNK):
                        digest.update(chunk)
                        dst.write(chunk)
            else:
                assert self.tf is not None
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = size, self.stamp, 0o600
                self.tf.addfile(info, _Hashing(src, digest))
        return {"path": name, "size": size, "sha256": digest.hexdigest()}

    def add_bytes(self, name: str, data: bytes) -> None:
        if self.zf is not None:
            self.zf.writestr(zipfile.ZipInfo(name, self.zip_time), data,
                             compress_type=zipfile.ZIP_DEFLATED)
            return
        assert self.tf is not None
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = len(data), self.stamp, 0o600
        self.tf.addfile(info, io.BytesIO(data))


class _Hashing(io.RawIOBase):
    """A file read through, feeding a hash."""

    def __init__(self, src: Any, digest: Any) -> None:
        self.src = src
        self.digest = digest

    def read(self, n: int = -1) -> bytes:
        data: bytes = self.src.read(n)
        self.digest.update(data)
        return data


def _sqlite_copy(src: Path, dst: Path) -> None:
    """SQLite's online backup API: one consistent snapshot, even in WAL mode and while others write."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(dst)
    try:
        source.execute("PRAGMA busy_timeout=30000")
        source.backup(target)  # pages=-1: the whole database in one step, under one read transaction
        target.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
    finally:
        target.close()
        source.close()


def _material_files(data_dir: Path) -> Iterator[Path]:
    root = data_dir / MATERIALS
    if not root.is_dir():
        return
    for dirpath, _dirs, names in os.walk(root, followlinks=False):
        for name in sorted(names):
            path = Path(dirpath) / name
            if name.endswith(".part") or path.is_symlink() or not path.is_file():
                continue  # half-written downloads are never referenced
            yield path


# --------------------------------------------------------------------------- rows as JSON


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)  # the bot stores every timestamp in UTC
        return value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError(f"cannot store {type(value).__name__} in a backup")


def _reflect(conn: Connection) -> MetaData:
    meta = MetaData()
    meta.reflect(conn)
    return meta


async def _dump_rows(url: str, *, snapshot: bool) -> dict[str, Any]:
    """Every table's rows; with `snapshot`, inside one REPEATABLE READ read-only transaction."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            if snapshot and conn.dialect.name == "postgresql":
                await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            meta = await conn.run_sync(_reflect)
            tables: dict[str, list[dict[str, Any]]] = {}
            for table in meta.sorted_tables:
                pk = list(table.primary_key.columns) or list(table.columns)
                result = await conn.execute(select(table).order_by(*pk))
                tables[table.name] = [
                    {k: _plain(v) for k, v in row._mapping.items()} for row in result
                ]
            revision = None
            if "alembic_version" in tables and tables["alembic_version"]:
                revision = tables["alembic_version"][0]["version_num"]
            await conn.rollback()
    finally:
        await engine.dispose()
    return {"dialect": make_url(url).get_backend_name(), "revision": revision, "tables": tables}


def _plain(value: Any) -> Any:
    """Values as JSON will carry them (dates and times as ISO strings)."""
    if isinstance(value, str | int | float | bool | dict | list) or value is None:
        return value
    return _json_default(value)


def _from_json(column: Any, value: Any, dialect: str) -> Any:
    """A JSON value back into what the target column takes."""
    if value is None:
        return None
    ctype = column.type
    if isinstance(ctype, types.DateTime) and isinstance(value, str):
        when = datetime.fromisoformat(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        if dialect == "sqlite":
            return when.astimezone(UTC).replace(tzinfo=None)
        return when
    if isinstance(ctype, types.Date) and isinstance(value, str):
        return date.fromisoformat(value)
    if isinstance(ctype, types.Time) and isinstance(value, str):
        return time.fromisoformat(value)
    if isinstance(ctype, types.LargeBinary) and isinstance(value, str):
        return base64.b64decode(value)
    if isinstance(ctype, types.Numeric) and not isinstance(ctype, types.Float) and isinstance(value, str):
        return Decimal(value)
    if isinstance(ctype, types.Boolean) and isinstance(value, int):
        return bool(value)
    return value  # JSON columns: the value was decoded with the rest of the dump


# --------------------------------------------------------------------------- restore


@dataclass
class _Archive:
    manifest: dict[str, Any]
    root: Path  # extracted and verified members


def _safe_member(name: str) -> bool:
    p = PurePosixPath(name)
    if p.is_absolute() or not p.parts or any(part in ("", ".", "..") for part in p.parts):
        return False
    if any(ord(ch) < 32 or ch == "\\" for ch in name):
        return False
    return name in (SQLITE_MEMBER, JSON_MEMBER, PGDUMP_MEMBER) or (p.parts[0] == MATERIALS and len(p.parts) >= 2)


def _normal(name: str) -> str:
    """A member name as `tar -C dir .` or a zip tool may write it: `./database/studio.db` is `database/studio.db`."""
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/") if name not in ("", ".") else ""


_DAMAGED = (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError,
            NotImplementedError, RuntimeError)


def _extract(path: Path, workdir: Path) -> tuple[dict[str, Any] | None, dict[str, tuple[int, str]]]:
    """Stream every member to `workdir` (hashing it on the way): the manifest and (size, sha256) by name.
    Members that are not regular files, or not where a backup puts files, are refused."""
    sink = _Sink(workdir)
    for name, src in _members(path):
        sink.take(name, src)
    return sink.manifest, sink.extracted


def _members(path: Path) -> Iterator[tuple[str, IO[bytes] | None]]:
    """(name, stream) of every file member of a ZIP or tar archive; None for links and other non-files."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                name = _normal(info.filename)
                if info.is_dir() or not name:
                    continue
                if (info.external_attr >> 16) & 0o170000 == 0o120000:  # a symbolic link
                    yield name, None
                    continue
                with zf.open(info) as src:
                    yield name, src
        return
    with tarfile.open(path, "r:*") as tf:
        for member in tf:
            name = _normal(member.name)
            if member.isdir() or not name:
                continue
            yield name, tf.extractfile(member) if member.isreg() else None


class _Sink:
    """Where the members of a backup go: the manifest read, every other file written and hashed."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.manifest: dict[str, Any] | None = None
        self.extracted: dict[str, tuple[int, str]] = {}

    def take(self, name: str, src: IO[bytes] | None) -> None:
        if name == MANIFEST:
            if src is None:
                raise BackupError("the manifest is not a regular file")
            try:
                self.manifest = json.loads(src.read(16 * 1024 * 1024))
            except ValueError:
                raise BackupError("the manifest is not valid JSON") from None
            return
        if src is None or not _safe_member(name):
            raise BackupError(f"unexpected member in the archive: {name!r}")
        if name in self.extracted:
            raise BackupError(f"{name} appears twice in the archive")
        target = self.workdir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        digest, size = hashlib.sha256(), 0
        with _private(target) as dst:
            while chunk := src.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                dst.write(chunk)
        self.extracted[name] = (size, digest.hexdigest())


def _open_archive(path: Path, workdir: Path) -> _Archive:
    """Extract into `workdir`, verifying every file against the manifest; nothing unlisted is kept."""
    if not path.is_file():
        raise BackupError(f"no such file: {path}")
    try:
        manifest, extracted = _extract(path, workdir)
    except BackupError:
        raise
    except _DAMAGED as exc:
        detail = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise BackupError(f"{path} is damaged or not a backup archive ({detail}); use another backup") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("not a backup of this bot (no manifest)")
    if manifest.get("version") != VERSION:
        raise BackupError(f"backup format version {manifest.get('version')} is not supported")
    try:
        listed = {f["path"]: (int(f["size"]), f["sha256"]) for f in manifest.get("files", [])}
    except (KeyError, TypeError, ValueError):
        raise BackupError("the manifest's file list is damaged") from None
    for name, (size, sha) in listed.items():
        if name not in extracted:
            raise BackupError(f"{name} is listed in the manifest but missing from the archive")
        if extracted[name] != (size, sha):
            raise BackupError(f"{name} does not match its checksum in the manifest (damaged archive?)")
    unlisted = set(extracted) - set(listed)
    if unlisted:
        raise BackupError(f"member(s) not in the manifest: {sorted(unlisted)[:3]}")
    db = manifest.get("database") or {}
    if db.get("member") not in listed:
        raise BackupError("the backup holds no database")
    return _Archive(manifest, workdir)


async def _has_data(url: str) -> bool:
    """Whether the database holds anything beyond what the bot seeds by itself."""
    sqlite_path = _sqlite_path(url)
    if sqlite_path is not None and not sqlite_path.exists():
        return False
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            meta = await conn.run_sync(_reflect)
            for table in meta.sorted_tables:
                if table.name in SEED_TABLES:
                    continue
                if await conn.scalar(select(func.count()).select_from(table)):
                    return True
    finally:
        await engine.dispose()
    return False


async def restore_backup(settings: Settings, archive: Path, *, force: bool = False) -> Report:
    """Bring `archive` back into the configured DATA_DIR and DATABASE_URL. Refused while a bot runs on them:
    the restore holds the bot's instance lock, so no bot can start before it is done either."""
    from bot import lock

    await asyncio.to_thread(Path(settings.data_dir).mkdir, parents=True, exist_ok=True)
    try:
        held = await lock.acquire(settings.data_dir, settings.database_url)
    except lock.LockHeld as exc:
        raise BackupError(f"the bot is running on this database ({exc}): stop it first "
                          "(systemctl stop <the bot's service>), then restore") from None
    except lock.LockUnavailable as exc:
        raise BackupError(f"cannot reach the database ({exc}): start it, or correct DATABASE_URL") from None
    try:
        return await _restore(settings, archive, force=force)
    finally:
        await held.release()


async def _restore(settings: Settings, archive: Path, *, force: bool) -> Report:
    from storage.db import Database

    data_dir = Path(settings.data_dir)
    report = Report("restored", Path(archive))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=data_dir) as tmp:
        work = Path(tmp)
        arc = _open_archive(Path(archive), work)
        has_db = await _has_data(settings.database_url)
        materials = data_dir / MATERIALS
        has_files = materials.is_dir() and any(p.is_file() for p in materials.rglob("*"))
        if (has_db or has_files) and not force:
            what = "database" if has_db else "materials folder"
            raise BackupError(f"the {what} already holds data; use --force to replace it (it is kept aside)")
        db_info = arc.manifest["database"]
        sqlite_path = _sqlite_path(settings.database_url)
        if db_info.get("pg_dump") == PGDUMP_MEMBER and sqlite_path is None and shutil.which("pg_restore"):
            await _pg_restore(settings.database_url, work / PGDUMP_MEMBER)
        elif db_info.get("kind") == "sqlite" and sqlite_path is not None:
            _replace_sqlite(work / SQLITE_MEMBER, sqlite_path, stamp)
        else:
            if db_info.get("kind") == "sqlite":
                dump = await _dump_rows(f"sqlite+aiosqlite:///{work / SQLITE_MEMBER}", snapshot=False)
            else:
                dump = json.loads((work / JSON_MEMBER).read_text(encoding="utf-8"))
            if sqlite_path is not None and sqlite_path.exists():
                _set_aside(sqlite_path, stamp)
            await _load_rows(settings.database_url, dump)
        # bring an older backup's schema up to date
        db = Database(settings.database_url)
        try:
            await db.migrate()
        finally:
            await db.dispose()
        # materials: swap the verified folder in
        if (work / MATERIALS).is_dir() or materials.exists():
            if materials.exists():
                materials.rename(data_dir / f"{MATERIALS}.before-restore-{stamp}")
            if (work / MATERIALS).is_dir():
                (work / MATERIALS).rename(materials)
            else:
                materials.mkdir()
    report.counts = dict(arc.manifest.get("counts") or {})
    report.files, report.size, report.warnings = await _verify(settings, list(arc.manifest.get("missing") or []))
    return report


def _set_aside(path: Path, stamp: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        p = Path(f"{path}{suffix}")
        if p.exists():
            p.rename(Path(f"{path}.before-restore-{stamp}{suffix}"))


def _replace_sqlite(copy: Path, target: Path, stamp: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        _set_aside(target, stamp)
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    tmp = target.with_name(target.name + ".restore-part")
    shutil.copyfile(copy, tmp)
    check = sqlite3.connect(tmp)
    try:
        if check.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise BackupError("the database in the backup fails SQLite's integrity check")
    finally:
        check.close()
    tmp.replace(target)


async def _load_rows(url: str, dump: dict[str, Any]) -> None:
    """Create the schema at the backup's revision, empty every table, insert the rows, fix sequences."""
    from alembic import command

    from storage.db import alembic_config

    revision = dump.get("revision") or "head"
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: command.upgrade(alembic_config(c), revision))
        async with engine.begin() as conn:
            await _insert_all(conn, dump["tables"])
    finally:
        await engine.dispose()


async def _insert_all(conn: AsyncConnection, tables: dict[str, list[dict[str, Any]]]) -> None:
    meta = await conn.run_sync(_reflect)
    dialect = conn.dialect.name
    ordered: list[Table] = [t for t in meta.sorted_tables if t.name != "alembic_version"]
    for table in reversed(ordered):
        await conn.execute(table.delete())
    for table in ordered:
        rows = tables.get(table.name) or []
        if not rows:
            continue
        cols = table.columns
        values = [{k: _from_json(cols[k], v, dialect) for k, v in row.items() if k in cols} for row in rows]
        for i in range(0, len(values), 500):
            await conn.execute(insert(table), values[i : i + 500])
    if dialect == "postgresql":
        for table in ordered:
            for col in table.primary_key.columns:
                if isinstance(col.type, types.Integer):
                    await conn.execute(text(
                        f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', '{col.name}'), "
                        f"COALESCE(MAX(\"{col.name}\"), 1), MAX(\"{col.name}\") IS NOT NULL) FROM \"{table.name}\""
                    ))


async def _verify(settings: Settings, known_missing: list[str]) -> tuple[int, int, list[str]]:
    """Every attachment's file is where the database says, with the recorded checksum."""
    engine = create_async_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT stored_path, sha256 FROM attachments"))).all()
    finally:
        await engine.dispose()
    return await asyncio.to_thread(_check_files, Path(settings.data_dir), [(r[0], r[1]) for r in rows], known_missing)


def _check_files(data_dir: Path, rows: list[tuple[str, str]], known_missing: list[str]) -> tuple[int, int, list[str]]:
    warnings: list[str] = []
    files = size = 0
    data_dir = data_dir.resolve()
    for rel, sha in rows:
        path = (data_dir / rel).resolve()
        if not path.is_relative_to(data_dir) or not path.is_file():
            if rel not in known_missing:
                raise BackupError(f"restored database refers to {rel}, which is not in the backup")
            warnings.append(f"{rel}: was already missing when the backup was made")
            continue
        digest, n = hashlib.sha256(), 0
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                n += len(chunk)
        if digest.hexdigest() != sha:
            raise BackupError(f"{rel}: checksum differs from the database after restore")
        files += 1
        size += n
    return files, size, warnings
