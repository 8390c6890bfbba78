"""One application's archive (R-W4 备案保存): the form, the photos, video and documents as stored,
`application.json` with the answers, opinions and the audit trail, and a `checksums.sha256` manifest
in `sha256sum` format (check with `sha256sum -c checksums.sha256`).
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from bot.domain import form
from bot.domain.kinds import Ask
from bot.domain.render import display
from bot.exports.data import Bundle
from bot.exports.names import clean
from bot.i18n import Translator

FORMAT = "studio-bot/application-archive/1"
MANIFEST = "checksums.sha256"
DATA_JSON = "application.json"
FOLDERS = {"photo": "photos", "video": "video", "document": "documents"}


def _iso(v: date | datetime | None) -> str | None:
    return v.isoformat() if v else None


def _inside(data_dir: Path, rel: str) -> Path | None:
    """The stored file, refusing anything that would resolve outside DATA_DIR."""
    root = data_dir.resolve()
    path = (root / rel).resolve()
    return path if path.is_relative_to(root) else None


def _form_answers(b: Bundle, t: Translator) -> list[dict[str, Any]]:
    answers = b.app.answers or {}
    unions = b.union_names("zh")
    out = []
    for f in form.STEPS:
        entry: dict[str, Any] = {"key": f.key, "section": f.section, "spec": f.spec, "label": t.plain(f.label_key),
                                 "value": answers.get(f.key)}
        if f.ask not in (Ask.PHOTOS, Ask.VIDEO):
            entry["display"] = display(f, answers.get(f.key), t, unions=unions)
        if f.kind_spec.file:
            entry["files"] = [a.id for a in b.attachments if a.field == f.key]
        out.append(entry)
    return out


def application_data(b: Bundle, t: Translator, files: list[dict[str, Any]], generated_at: datetime) -> dict[str, Any]:
    a = b.app
    u = b.union
    return {
        "format": FORMAT,
        "generated_at": generated_at.isoformat(),
        "id": a.id,
        "number": a.number,
        "season": a.season_year,
        "status": a.status,
        "union": {"id": u.id, "code": u.code, "name_zh": u.name_zh, "name_en": u.name_en} if u else None,
        "applicant": {"id": a.applicant_id, "name": b.applicant.display_name if b.applicant else None},
        "application_date": _iso(a.application_date),
        "submitted_at": _iso(a.submitted_at),
        "status_since": _iso(a.status_since),
        "inspection_on": _iso(a.inspection_on),
        "studio_name": a.studio_name,
        "plaque_on": _iso(a.plaque_on),
        "remarks": a.remarks,
        "materials": a.materials,
        "answers": a.answers or {},
        "form": _form_answers(b, t),
        "opinions": [{"box": o.box, "action": o.action, "text": o.text, "reviewer_id": o.reviewer_id,
                      "union_id": o.union_id, "decided_at": _iso(o.decided_at)} for o in b.opinions],
        "audit_trail": [{"at": _iso(e.at), "action": e.action, "actor_id": e.actor_id, "from_status": e.from_status,
                         "to_status": e.to_status, "opinion": e.opinion, "details": e.details} for e in b.trail],
        "attachments": files,
        "studio": None if b.studio is None else {
            "id": b.studio.id, "name": b.studio.name, "named_on": _iso(b.studio.named_on),
            "plaque_on": _iso(b.studio.plaque_on), "status": b.studio.status, "ip_statement": b.studio.ip_statement},
    }


def _member_name(att: Any, n: int) -> str:
    folder = FOLDERS.get(att.kind, "other")
    suffix = PurePosixPath(att.stored_path).suffix.lower() or ".bin"
    original = clean(PurePosixPath(att.original_name or "").stem, max_len=60) if att.original_name else ""
    stem = f"{att.field}_{n:02d}" + (f"_{original}" if original else "")
    return f"{folder}/{stem}{suffix}"


def build_zip(b: Bundle, t: Translator, data_dir: Path, generated_at: datetime,
              documents: dict[str, bytes]) -> bytes:
    """The archive as bytes. `documents` are generated files put at the top (the DOCX, the PDF)."""
    members: dict[str, bytes] = dict(documents)
    files: list[dict[str, Any]] = []
    counts: dict[str, int] = {}
    for att in b.attachments:
        counts[att.field] = counts.get(att.field, 0) + 1
        name = _member_name(att, counts[att.field])
        entry: dict[str, Any] = {"id": att.id, "field": att.field, "kind": att.kind,
                                 "original_name": att.original_name, "mime_type": att.mime_type, "size": att.size,
                                 "sha256": att.sha256, "created_at": _iso(att.created_at), "path": None}
        path = _inside(data_dir, att.stored_path)
        if path is None or not path.is_file():
            entry["missing"] = True
        else:
            data = path.read_bytes()
            entry["path"] = name
            entry["intact"] = hashlib.sha256(data).hexdigest() == att.sha256
            members[name] = data
        files.append(entry)
    members[DATA_JSON] = json.dumps(application_data(b, t, files, generated_at), ensure_ascii=False, indent=2,
                                    default=str).encode("utf-8")
    manifest = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(members.items()))
    members[MANIFEST] = manifest.encode("utf-8")
    stamp = generated_at.timetuple()[:6]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return buf.getvalue()


def read_manifest(text: str) -> dict[str, str]:
    """name → sha256 from a `checksums.sha256` text."""
    out = {}
    for line in text.splitlines():
        if line.strip():
            digest, name = line.split("  ", 1)
            out[name] = digest
    return out
