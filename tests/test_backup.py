"""`python -m bot backup` / `restore` — an online, consistent backup of the database and the
materials, restored into a new DATA_DIR / DATABASE_URL with every application, file and audit entry."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from bot import backup
from bot.callbacks import WizardOp
from bot.config import Settings
from bot.domain.workflow import Action
from storage.db import Database
from storage.models import Application, Attachment, AuditEvent, Base
from tests.apply_steps import fill_until_summary, png, tap_op
from tests.conftest import JULY_10, PG_URL
from tests.offline import TOKEN, Harness, close_harness, make_harness
from tests.roles import first_union_id, grant

APPLICANTS = (10, 11)
DISTRICT = 20
LATE = 12  # keeps typing while the backup runs


def parse(*argv: str) -> argparse.Namespace:
    """The sub-commands as `bot/cli.py` will parse them (through `backup.add_parser`)."""
    parser = argparse.ArgumentParser(prog="python -m bot")
    sub = parser.add_subparsers(dest="command")
    backup.add_parser(sub)
    return parser.parse_args(list(argv))


async def cli(settings: Settings, *argv: str) -> int:
    """`backup.run` as the CLI calls it (it runs its own event loop, so in a thread here)."""
    return await asyncio.to_thread(backup.run, parse(*argv), settings)


def settings_for(data_dir: Path, database_url: str | None = None) -> Settings:
    env: dict[str, Any] = {"bot_token": TOKEN, "data_dir": data_dir}
    if database_url:
        env["database_url"] = database_url
    return Settings(**env)


async def _new_pg_database() -> str:
    import asyncpg
    from sqlalchemy.engine import make_url

    assert PG_URL is not None
    url = make_url(PG_URL)
    name = "t_" + uuid.uuid4().hex[:12]
    conn = await asyncpg.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return url.set(database=name).render_as_string(hide_password=False)


async def _drop_pg_database(dsn: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(dsn)
    admin = url.set(drivername="postgresql", database=make_url(PG_URL).database)  # type: ignore[arg-type]
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    await conn.execute(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)')
    await conn.close()


@pytest_asyncio.fixture
async def targets() -> AsyncIterator[list[str | None]]:
    """Where to restore: a new SQLite file (None: DATA_DIR's default) and, when reachable, a new
    PostgreSQL database — so SQLite→PostgreSQL and PostgreSQL→SQLite restores are covered too."""
    made: list[str] = []
    out: list[str | None] = [None]
    if PG_URL is not None:
        made.append(await _new_pg_database())
        out.append(made[-1])
    yield out
    for dsn in made:
        await _drop_pg_database(dsn)


async def snapshot(db: Database) -> dict[str, dict[tuple[Any, ...], dict[str, Any]]]:
    """Every row of every table of the models, keyed by primary key (read with the models' types)."""
    out: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
    async with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            pk = [c.name for c in table.primary_key.columns]
            rows = (await conn.execute(select(table))).mappings().all()
            out[table.name] = {tuple(r[k] for k in pk): dict(r) for r in rows}
    return out


async def build_history(h: Harness, applicants: tuple[int, ...] = APPLICANTS) -> None:
    """Submitted applications with photos and a document, the first returned at level 1, and a reviewer."""
    union = await first_union_id(h)
    await grant(h, DISTRICT, "district_reviewer", union)
    for uid in applicants:
        u = h.user(uid, name=f"申请人{uid}")
        await fill_until_summary(h, u)
        await tap_op(h, u, WizardOp.SUBMIT)
        await tap_op(h, u, WizardOp.CONFIRM)
    async with h.db.session() as s:
        first = (await s.scalars(select(Application).where(Application.applicant_id == applicants[0]))).one()
    from bot.callbacks import Review

    reviewer = h.user(DISTRICT, name=f"U{DISTRICT}")
    await h.press(reviewer, Review(Action.L1_RETURN, first.id).encode())
    await h.text(reviewer, "请补充设备清单。")
    from bot.callbacks import ReviewAux, ReviewOp

    await h.press(reviewer, ReviewAux(ReviewOp.DEFAULT, first.id).encode())


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One history (one applicant), backed up once as .tar.gz and as .zip, shared by the restore tests."""
    root = tmp_path_factory.mktemp("archives")

    async def make() -> dict[str, Path]:
        h = await make_harness(root / "data", now=JULY_10, admin_ids="900")
        try:
            await build_history(h, APPLICANTS[:1])
            out = {"tar": root / "one.tar.gz", "zip": root / "one.zip"}
            for path in out.values():
                assert await cli(h.settings, "backup", "--out", str(path)) == 0
            return out
        finally:
            await close_harness(h)

    return asyncio.run(make())


async def keep_typing(h: Harness, stop: asyncio.Event) -> int:
    """A user working through the wizard while the backup runs (the bot is live)."""
    u = h.user(LATE, name="赵强")
    await h.text(u, "/apply")
    await tap_op(h, u, WizardOp.UNION)
    n = 0
    while not stop.is_set() and n < 200:
        await h.text(u, "/apply")
        if n % 5 == 0:
            await h.photo(u, png(500 + n))
        n += 1
        await asyncio.sleep(0)
    return n


async def test_backup_while_running_and_restore_everywhere(any_bot, tmp_path, targets):
    """Backup: applications filled and submitted through the wizard are backed up while the bot
    keeps handling another user's updates; the archive has a manifest with a sha256 per file; restoring it
    into a new DATA_DIR (SQLite, and PostgreSQL when reachable) brings back every application, attachment
    file (checksums) and audit entry; the restored bot carries on with them."""
    h = any_bot
    await build_history(h)
    before = await snapshot(h.db)
    assert len(before["applications"]) == 2 and len(before["attachments"]) == 8
    out = tmp_path / "backups" / "studio.tar.gz"
    stop = asyncio.Event()
    typing = asyncio.create_task(keep_typing(h, stop))
    code = await cli(h.settings, "backup", "--out", str(out))
    stop.set()
    assert await typing > 0
    assert code == 0 and out.is_file()

    with tarfile.open(out) as tf:
        names = tf.getnames()
        manifest = json.loads(tf.extractfile("manifest.json").read())
        for entry in manifest["files"]:
            data = tf.extractfile(entry["path"]).read()
            assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["size"]
    assert set(names) == {"manifest.json", *(f["path"] for f in manifest["files"])}
    kind = "sqlite" if h.db.is_sqlite else "rows"
    assert manifest["database"]["kind"] == kind and manifest["database"]["revision"]
    if not h.db.is_sqlite and shutil.which("pg_dump"):  # the PostgreSQL route: pg_dump, pg_restore
        assert manifest["database"]["pg_dump"] == backup.PGDUMP_MEMBER
    for att in before["attachments"].values():
        assert att["stored_path"] in names
    assert manifest["missing"] == []

    for i, url in enumerate(targets):
        data_dir = tmp_path / f"restored{i}"
        target = settings_for(data_dir, url)
        assert await cli(target, "restore", str(out)) == 0
        db = Database(target.database_url)
        after = await snapshot(db)
        await db.dispose()
        for table, rows in before.items():
            for key, row in rows.items():
                assert key in after[table], (table, key)
                assert after[table][key] == row, (table, key)
        for att in after["attachments"].values():
            path = data_dir / att["stored_path"]
            assert hashlib.sha256(path.read_bytes()).hexdigest() == att["sha256"], path
        audit_actions = sorted(r["action"] for r in after["audit_events"].values())
        assert audit_actions.count("submit") == 2 and "l1_return" in audit_actions
        # the restored bot works with what came back: numbers, states, new ids do not collide
        h2 = await make_harness(data_dir, now=JULY_10, admin_ids="900", database_url=url)
        try:
            mark = await h2.text(h2.user(APPLICANTS[1]), "/my")
            assert "2026-0002" in "\n".join(h2.request.texts(APPLICANTS[1], since=mark))
            u = h2.user(77, name="新用户")
            await h2.text(u, "/apply")
            await tap_op(h2, u, WizardOp.UNION)
            async with h2.db.session() as s:
                new = (await s.scalars(select(Application).where(Application.applicant_id == 77))).one()
                assert new.id not in {k[0] for k in before["applications"]}
                events = (await s.scalars(select(AuditEvent))).all()
                assert len({e.id for e in events}) == len(events)
        finally:
            await close_harness(h2)


async def test_backup_is_consistent_under_concurrent_writes(bot, tmp_path):
    """Online backup: several backups taken while a user uploads photos are each internally
    consistent — every attachment row in the copied database has its file in the archive (checksums)."""
    await build_history(bot)
    stop = asyncio.Event()
    typing = asyncio.create_task(keep_typing(bot, stop))
    archives = []
    for i in range(3):
        out = tmp_path / f"b{i}.tar.gz"
        assert await cli(bot.settings, "backup", "--out", str(out)) == 0
        archives.append(out)
    stop.set()
    await typing
    for i, out in enumerate(archives):
        target = settings_for(tmp_path / f"r{i}")
        assert await cli(target, "restore", str(out)) == 0
        db = Database(target.database_url)
        async with db.session() as s:
            atts = (await s.scalars(select(Attachment))).all()
        await db.dispose()
        assert len(atts) >= 8
        for att in atts:
            assert hashlib.sha256((target.data_dir / att.stored_path).read_bytes()).hexdigest() == att.sha256


async def test_restore_refuses_a_database_with_data_unless_forced(archives, tmp_path, capsys):
    """Restore: a database that already holds data is not overwritten without --force; with --force
    it is replaced and the old database and materials are kept aside, not deleted."""
    out = archives["zip"]
    # a second bot with its own data
    other_dir = tmp_path / "other"
    h2 = await make_harness(other_dir, now=JULY_10)
    u = h2.user(99, name="别人")
    await h2.text(u, "/apply")
    await close_harness(h2)
    (other_dir / "materials" / "1").mkdir(parents=True)
    (other_dir / "materials" / "1" / "old.png").write_bytes(png(9))
    target = settings_for(other_dir)
    capsys.readouterr()
    assert await cli(target, "restore", str(out)) == 1
    assert "--force" in capsys.readouterr().err
    db = Database(target.database_url)
    async with db.session() as s:
        assert [a.applicant_id for a in (await s.scalars(select(Application))).all()] == [99]
    await db.dispose()
    assert await cli(target, "restore", "--force", str(out)) == 0
    db = Database(target.database_url)
    async with db.session() as s:
        assert [a.applicant_id for a in (await s.scalars(select(Application))).all()] == [APPLICANTS[0]]
    await db.dispose()
    assert list(other_dir.glob("studio.db.before-restore-*"))
    kept = list(other_dir.glob("materials.before-restore-*/1/old.png"))
    assert len(kept) == 1 and kept[0].read_bytes() == png(9)
    assert not (other_dir / "materials" / "1" / "old.png").exists()


async def test_restore_into_a_seeded_but_empty_database(archives, tmp_path):
    """Restore: a database the bot only seeded (unions, season) counts as empty."""
    out = archives["tar"]
    fresh = tmp_path / "fresh"
    h2 = await make_harness(fresh, now=JULY_10)
    await close_harness(h2)
    assert await cli(settings_for(fresh), "restore", str(out)) == 0


def _rewrite(src: Path, dst: Path, change: Any) -> None:
    """Copy a tar.gz backup, letting `change(name, data)` return new (name, data) or None to drop."""
    with tarfile.open(src) as tf, tarfile.open(dst, "w:gz") as out:
        for member in tf.getmembers():
            data = tf.extractfile(member).read()  # type: ignore[union-attr]
            changed = change(member.name, data)
            if changed is None:
                continue
            info = tarfile.TarInfo(changed[0])
            info.size = len(changed[1])
            out.addfile(info, io.BytesIO(changed[1]))


@pytest.mark.parametrize("damage", ["flip_a_byte", "drop_a_file", "path_traversal", "absolute_path", "symlink"])
async def test_damaged_or_hostile_archive_is_refused_and_nothing_written(archives, tmp_path, damage, capsys):
    """Restore safety: a member that fails its checksum, a missing member, a member outside the
    layout (`../`, absolute, a link) — the restore is refused before anything is written."""
    good = archives["tar"]
    bad = tmp_path / "bad.tar.gz"
    victim = tmp_path / "victim.txt"

    def change(name: str, data: bytes) -> tuple[str, bytes] | None:
        if not name.startswith("materials/") or not name.endswith(".png") and not name.endswith(".jpg"):
            return name, data
        if damage == "flip_a_byte":
            return name, data[:-1] + bytes([data[-1] ^ 1])
        if damage == "drop_a_file":
            return None
        return name, data

    _rewrite(good, bad, change)
    if damage in ("path_traversal", "absolute_path", "symlink"):
        with tarfile.open(bad) as tf:
            members = [(m, tf.extractfile(m).read()) for m in tf.getmembers()]
        with tarfile.open(bad, "w:gz") as out:
            for m, data in members:
                out.addfile(m, io.BytesIO(data))
            if damage == "symlink":
                link = tarfile.TarInfo("materials/1/evil.pdf")
                link.type = tarfile.SYMTYPE
                link.linkname = str(victim)
                out.addfile(link)
            else:
                name = "materials/../../victim.txt" if damage == "path_traversal" else str(victim)
                info = tarfile.TarInfo(name)
                info.size = 4
                out.addfile(info, io.BytesIO(b"evil"))
    target_dir = tmp_path / "target"
    capsys.readouterr()
    assert await cli(settings_for(target_dir), "restore", str(bad)) == 1
    err = capsys.readouterr().err
    expected = {"flip_a_byte": "checksum", "drop_a_file": "missing from the archive"}.get(damage, "unexpected member")
    assert "restore failed" in err and expected in err, err
    assert not victim.exists()
    assert not (target_dir / "studio.db").exists()
    assert not (target_dir / "materials").exists()
    left = [p.name for p in target_dir.iterdir()] if target_dir.exists() else []
    assert left in ([], ["bot.lock"]), left  # the instance lock the restore held, nothing else


async def test_zip_format_round_trip(archives, tmp_path):
    """Backup: `--out FILE.zip` writes a zip with the same manifest; restore reads it."""
    out = archives["zip"]
    import zipfile

    with zipfile.ZipFile(out) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert {f["path"] for f in manifest["files"]} >= {"database/studio.db"}
    target = settings_for(tmp_path / "z")
    assert await cli(target, "restore", str(out)) == 0
    db = Database(target.database_url)
    async with db.session() as s:
        assert len((await s.scalars(select(Attachment))).all()) == 4
    await db.dispose()


async def test_missing_material_file_is_reported(bot, tmp_path, capsys):
    """Backup: a file the database refers to but that is gone from disk is named in the manifest
    and as a warning (the backup is not silently incomplete)."""
    await build_history(bot, APPLICANTS[:1])
    async with bot.db.session() as s:
        att = (await s.scalars(select(Attachment).order_by(Attachment.id))).first()
    assert att is not None
    (bot.settings.data_dir / att.stored_path).unlink()
    out = tmp_path / "b.tar.gz"
    capsys.readouterr()
    assert await cli(bot.settings, "backup", "--out", str(out)) == 0
    assert att.stored_path in capsys.readouterr().err
    with tarfile.open(out) as tf:
        manifest = json.loads(tf.extractfile("manifest.json").read())
    assert manifest["missing"] == [att.stored_path]


ROOT = Path(__file__).resolve().parents[1]


def _cli_has_backup() -> bool:
    return "backup" in (ROOT / "bot" / "cli.py").read_text(encoding="utf-8")


@pytest.mark.skipif(not _cli_has_backup(), reason="bot/cli.py does not wire `bot.backup` yet")
async def test_python_m_bot_backup_and_restore(bot, tmp_path):
    """CLI: `python -m bot backup --out FILE` and `python -m bot restore FILE` as processes."""
    await build_history(bot, APPLICANTS[:1])
    out = tmp_path / "cli.tar.gz"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATA_DIR", "DATABASE_URL"))}
    env.update({"BOT_TOKEN": TOKEN, "DATA_DIR": str(bot.settings.data_dir)})
    root = ROOT
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot", "backup", "--out", str(out)],
                                   cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    env["DATA_DIR"] = str(tmp_path / "restored")
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bot", "restore", str(out)],
                                   cwd=root, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "restored" / "studio.db").is_file()
    assert TOKEN not in done.stdout + done.stderr


async def test_repacked_archive_is_accepted(archives, tmp_path):
    """A genuine backup unpacked and packed again with `tar -C dir .` (members named `./…`) restores."""
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    with tarfile.open(archives["tar"]) as tf:
        tf.extractall(unpacked, filter="data")
    repacked = tmp_path / "repacked.tar.gz"
    await asyncio.to_thread(subprocess.run, ["tar", "-czf", str(repacked), "-C", str(unpacked), "."], check=True)
    with tarfile.open(repacked) as tf:
        assert any(n.startswith("./database/") for n in tf.getnames())
    target = tmp_path / "target"
    assert await cli(settings_for(target), "restore", str(repacked)) == 0
    assert (target / "studio.db").exists()


@pytest.mark.parametrize("kind", ["zip", "tar"])
async def test_corrupt_archive_is_refused_in_one_line(archives, tmp_path, capsys, kind):
    """A truncated or garbled archive: one line saying it is damaged, no traceback, nothing restored."""
    data = archives[kind].read_bytes()
    bad = tmp_path / f"bad.{'zip' if kind == 'zip' else 'tar.gz'}"
    middle = len(data) // 2
    bad.write_bytes(data[:middle] + bytes(b ^ 0x5A for b in data[middle:middle + 2000]) + data[middle + 2000:])
    capsys.readouterr()
    target = tmp_path / "target"
    assert await cli(settings_for(target), "restore", str(bad)) == 1
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "restore failed" in lines[0], err
    assert "Traceback" not in err
    assert not (target / "studio.db").exists()


async def test_backup_streams_files_and_is_private(bot, tmp_path):
    """The archive is written 0600, and a large material file is streamed: the backup's peak memory stays
    far below the file's size."""
    import tracemalloc

    big = bot.settings.data_dir / "materials" / "1" / "big.mp4"
    big.parent.mkdir(parents=True, exist_ok=True)
    big.write_bytes(os.urandom(24 * 1024 * 1024))
    out = tmp_path / "b.tar.gz"
    tracemalloc.start()
    try:
        report = await backup.make_backup(bot.settings, out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.files == 1 and report.size >= 24 * 1024 * 1024
    assert peak < 12 * 1024 * 1024, peak
    assert out.stat().st_mode & 0o777 == 0o600
