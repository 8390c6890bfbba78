"""What each page shows and who may see it; decisions through the same services as the chat's buttons.

The application page walks the declaration (`bot.domain.form`) section by section, in the printed form's
shapes (`bot.exports.docx_form.SHAPES`), every answer in full; then the photos, the documents, the
opinion boxes, the difference between rounds, the timeline, and the decisions the viewer may take now.
"""

from __future__ import annotations

import io
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from bot import notify
from bot.domain import form, workflow
from bot.domain import results as result_dom
from bot.domain.form import FormField
from bot.domain.kinds import Ask
from bot.domain.render import display, member_cells
from bot.domain.values import date_examples, parse_date_or_none
from bot.domain.workflow import Action, Box, NotAllowed, Role, Status
from bot.exports.data import Bundle, load_bundle
from bot.exports.docx_form import SHAPES
from bot.i18n import Translator
from bot.runtime import BotContext, Rq, run_as
from bot.services import overview as overview_service
from bot.services import review as svc_review
from bot.views import results as result_views
from bot.views.review import DEFAULT_OPINION, RETURNS, SUBMISSIONS
from bot.web.auth import WebUser
from storage import repo
from storage.models import Application, Attachment, AuditEvent, Season, User

if TYPE_CHECKING:
    from bot.web.server import Web

Endpoint = Callable[["Ctx"], Awaitable[Response]]
REVIEWERS = frozenset({Role.DISTRICT, Role.CITY})
OPINION_MAX = 1000
RETRIES = 3
STATUS_ORDER = {s.value: i for i, s in enumerate(Status)}


class Refused(Exception):
    """An answer other than the page: the HTTP `code` and the locale key of the reason."""

    def __init__(self, code: int, key: str, /, **params: object) -> None:
        super().__init__(key)
        self.code = code
        self.key = key
        self.params = params


@dataclass
class Viewer:
    id: int
    user: User | None
    roles: set[Role]
    t: Translator

    @property
    def nav(self) -> list[str]:
        out = []
        if self.roles & REVIEWERS:
            out.append("queue")
        if overview_service.may_see(self.roles):
            out += ["overview", "meetings"]
        return out


@dataclass
class Ctx:
    web: Web
    request: Request
    who: WebUser
    viewer: Viewer | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def svc(self) -> Any:
        return self.web.svc

    async def load(self, s: AsyncSession) -> Viewer:
        """The user's roles, re-read from the database at every request."""
        user = await repo.get_user(s, self.who.id)
        roles = await repo.roles_of(s, self.who.id, self.svc.settings.admin_ids)
        i18n = self.svc.i18n
        lang = i18n.pick(user.locale, user.language_code) if user else i18n.pick(None, self.who.language_code)
        self.viewer = Viewer(self.who.id, user, roles, i18n.get(lang))
        return self.viewer

    @property
    def t(self) -> Translator:
        return self.viewer.t if self.viewer else self.svc.i18n.get(None)

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        t = self.t
        html = self.web.env.get_template(template).render(
            t=t.plain, lang=t.lang, viewer=self.viewer, status_label=lambda s: t.plain(f"status.{s}"), **values)
        return HTMLResponse(html, status_code=status)

    async def refused(self, exc: Refused) -> Response:
        text = self.t.plain(exc.key, **exc.params)
        if self.request.method == "POST" and not self.request.url.path.startswith("/api/overview"):
            return JSONResponse({"error": exc.key, "message": text}, status_code=exc.code)
        return self.render("refused.html", exc.code, message=text)


def local(ctx: Ctx, when: datetime | None) -> str:
    return when.astimezone(ctx.svc.settings.tz).strftime("%Y-%m-%d %H:%M") if when else ""


# --------------------------------------------------------------------------- the home page and lists


async def home(ctx: Ctx) -> Response:
    """What the menu button opens: the office's overview, or the reviewer's queue."""
    async with ctx.svc.db.session() as s:
        v = await ctx.load(s)
    if Role.ADMIN in v.roles:
        return await overview(ctx)
    if v.roles & REVIEWERS:
        return await queue(ctx)
    if overview_service.may_see(v.roles):
        return await overview(ctx)
    raise Refused(403, "web.denied.no_role")


async def queue(ctx: Ctx) -> Response:
    async with ctx.svc.db.session() as s:
        v = await ctx.load(s)
        if not v.roles & REVIEWERS:
            raise Refused(403, "web.denied.not_reviewer")
        apps = await svc_review.waiting_for(s, v.id, v.roles)
        unions = await _union_names(s, v.t.lang)
    today = ctx.svc.today()
    rows = [_row(ctx, a, unions) | {"days": (today - ctx.svc.local(a.status_since).date()).days
                                     if a.status_since else 0} for a in apps]
    counts = Counter(a.status for a in apps)
    return ctx.render("queue.html", page="queue", rows=rows,
                      counts=sorted(counts.items(), key=lambda kv: STATUS_ORDER[kv[0]]))


@dataclass
class Filters:
    season: int | None
    union: int | None
    status: str | None
    q: str

    @classmethod
    async def of(cls, request: Request) -> Filters:
        """From the body of a POST (a search by name stays out of every URL and log)."""
        p: Any = {}
        if request.method == "POST":
            try:
                p = await request.json()
            except ValueError:
                p = {}
        if not isinstance(p, dict):
            p = {}

        def num(name: str) -> int | None:
            raw = str(p.get(name) or "")
            return int(raw) if raw.isdigit() else None

        status = str(p.get("status") or "") or None
        return cls(num("season"), num("union"), status if status in STATUS_ORDER else None,
                   " ".join(str(p.get("q") or "").split())[:100])


async def _overview_rows(ctx: Ctx, s: AsyncSession, v: Viewer, f: Filters) -> tuple[list[dict[str, Any]], Any]:
    if not overview_service.may_see(v.roles):
        raise Refused(403, "web.denied.not_office")
    seasons = list((await s.scalars(select(Season.year).order_by(Season.year.desc()))).all())
    if f.season is None or f.season not in seasons:
        f.season = seasons[0] if seasons else ctx.svc.today().year
    apps = (await s.scalars(select(Application).where(Application.season_year == f.season)
                            .order_by(Application.number, Application.id))).all()
    unions = await _union_names(s, v.t.lang)
    in_season = [a for a in apps if f.union is None or a.union_id == f.union]
    counts = Counter(a.status for a in in_season)
    needle = f.q.casefold()
    shown = [a for a in in_season if (f.status is None or a.status == f.status) and (
        not needle or any(needle in str(x).casefold() for x in (
            a.number or "", (a.answers or {}).get("applying_unit", ""), (a.answers or {}).get("leader_name", ""))))]
    meta = {"seasons": seasons, "unions": sorted(unions.items(), key=lambda kv: kv[1]),
            "counts": sorted(counts.items(), key=lambda kv: STATUS_ORDER[kv[0]]), "total": len(in_season),
            "statuses": [x.value for x in Status]}
    return [_row(ctx, a, unions) for a in shown], meta


async def overview(ctx: Ctx) -> Response:
    f = await Filters.of(ctx.request)
    async with ctx.svc.db.session() as s:
        v = await ctx.load(s)
        rows, meta = await _overview_rows(ctx, s, v, f)
    return ctx.render("overview.html", page="overview", rows=rows, f=f, **meta)


async def overview_xlsx(ctx: Ctx) -> Response:
    """The overview as it is filtered now, as a spreadsheet."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    f = await Filters.of(ctx.request)
    async with ctx.svc.db.session() as s:
        v = await ctx.load(s)
        rows, _ = await _overview_rows(ctx, s, v, f)
    t = v.t
    wb = Workbook()
    ws = wb.active
    ws.title = str(f.season)
    cols = ("number", "union", "unit", "leader", "status", "submitted", "since")
    ws.append([t.plain(f"web.col.{c}") for c in cols])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in rows:
        ws.append([r["status_text" if c == "status" else c] for c in cols])
    for letter, width in zip("ABCDEFG", (12, 22, 30, 12, 26, 17, 17), strict=True):
        ws.column_dimensions[letter].width = width
    buf = io.BytesIO()
    wb.save(buf)
    name = f"overview-{f.season}.xlsx"
    return Response(buf.getvalue(), media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


def _row(ctx: Ctx, a: Application, unions: Mapping[int, str]) -> dict[str, Any]:
    answers = a.answers or {}
    return {"id": a.id, "number": a.number or "—", "union": unions.get(a.union_id or 0, ""),
            "unit": answers.get("applying_unit", ""), "leader": answers.get("leader_name", ""),
            "status": a.status, "status_text": ctx.t.plain(f"status.{a.status}"),
            "submitted": local(ctx, a.submitted_at), "since": local(ctx, a.status_since)}


async def _union_names(s: AsyncSession, lang: str) -> dict[int, str]:
    return {u.id: u.name(lang) for u in await repo.all_unions(s)}


# --------------------------------------------------------------------------- one application


async def _visible(ctx: Ctx, s: AsyncSession, app_id: int) -> tuple[Viewer, Application]:
    v = await ctx.load(s)
    app = await repo.get_application(s, app_id)
    if app is None or not await svc_review.may_view(s, app, v.id, v.roles):
        raise Refused(403, "web.denied.not_yours")  # the same answer whether it exists or not
    return v, app


async def application(ctx: Ctx) -> Response:
    app_id = int(ctx.request.path_params["app_id"])
    async with ctx.svc.db.session() as s:
        v, _ = await _visible(ctx, s, app_id)
        b = await load_bundle(s, app_id)
        assert b is not None
        users = await repo.by_ids(s, User, {e.actor_id for e in b.trail if e.actor_id}
                                  | {o.reviewer_id for o in b.opinions if o.reviewer_id})
        season = await repo.ensure_season(s, b.app.season_year)
        forms = await _decisions(ctx, s, v, b.app, season)
    t = v.t
    page = AppPage(ctx, b, t, users)
    return ctx.render("application.html", page="app", a=b.app, p=page, forms=forms,
                      union=b.union.name(t.lang) if b.union else "")


class AppPage:
    """The application laid out for the template: sections in the printed form's shapes."""

    def __init__(self, ctx: Ctx, b: Bundle, t: Translator, users: Mapping[int, User]) -> None:
        self.ctx, self.b, self.t, self.users = ctx, b, t, users
        self.answers = b.app.answers or {}
        self.unions = b.union_names(t.lang)
        self.member_fields = form.MEMBER_FIELDS
        self.section_keys = form.SECTIONS

    def label(self, f: FormField) -> str:
        return self.t.plain(f.label_key)

    def value(self, f: FormField, answers: Mapping[str, Any] | None = None) -> str:
        return display(f, (self.answers if answers is None else answers).get(f.key), self.t.plain,
                       unions=self.unions)

    def result_fields(self) -> list[tuple[str, str]]:
        """(key, label) of the results table's columns: every declared property but the certificate."""
        return [(f.key, result_views.label(self.t, f.key)) for f in result_dom.TYPED]

    def results(self) -> list[list[str]]:
        """The results registered with the application (R-E5), a row each, as the declaration shows them."""
        rows = []
        for r in self.b.results:
            record = result_dom.record_of(r)
            rows.append([result_views.value_text(self.t, f, record.get(f.key)) for f in result_dom.TYPED])
        return rows

    def sections(self) -> list[tuple[str, str, list[FormField]]]:
        """(section, shape, fields) in the declaration's order; shapes of the printed form, the rest by kind."""
        out = []
        for section in form.SECTIONS:
            fields = [f for f in form.STEPS if f.section == section]
            shape = SHAPES.get(section) or {"eligibility": "checks", "photos": "media", "documents": "documents",
                                            "opinions": "pairs", "union": "pairs"}.get(section, "pairs")
            if shape == "heading":
                shape = "pairs"
            out.append((section, shape, fields))
        return out

    def members(self, f: FormField) -> list[list[str]]:
        return [member_cells(row, self.t.plain) for row in self.answers.get(f.key) or []]

    def items(self, f: FormField) -> list[str]:
        return [str(x) for x in self.answers.get(f.key) or []]

    def files(self, key: str) -> list[Attachment]:
        return [a for a in self.b.attachments if a.field == key]

    @staticmethod
    def ext(att: Attachment) -> str:
        """The file's type as a short badge (PDF, DOCX, MP4…)."""
        return (_suffix(att.original_name or "") or _suffix(att.stored_path)).lstrip(".").upper()[:4] or "FILE"

    @staticmethod
    def size(att: Attachment) -> str:
        n = att.size or 0
        return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{max(1, round(n / 1024))} KB"

    def photos(self) -> list[Attachment]:
        return [a for a in self.b.attachments if a.kind == "photo" and a.field == "photos"]

    def boxes(self) -> list[tuple[str, list[dict[str, str]]]]:
        """Every opinion recorded in each box of the printed form, oldest first."""
        out = []
        for box in Box:
            got = [{"text": o.text, "who": self._name(o.reviewer_id), "when": local(self.ctx, o.decided_at),
                    "action": self.t.plain(f"action.{o.action}") if self.t.has(f"action.{o.action}") else ""}
                   for o in self.b.opinions if o.box == box.value]
            if box is Box.UNIT and not got and self.answers.get("unit_opinion"):
                got = [{"text": str(self.answers["unit_opinion"]), "who": "", "when": "", "action": ""}]
            if box is Box.UNION and not got and self.answers.get("union_opinion"):
                got = [{"text": str(self.answers["union_opinion"]), "who": "", "when": "", "action": ""}]
            out.append((self.t.plain(f"box.{box.value}"), got))
        return out

    def _name(self, user_id: int | None) -> str:
        u = self.users.get(user_id or 0)
        return u.display_name if u else ""

    def timeline(self) -> list[dict[str, str]]:
        """Every move of the application with who, when and the opinion given, oldest first."""
        out = []
        for e in self.b.trail:
            if e.to_status is None:
                continue
            details = e.details or {}
            extra = []
            if details.get("date"):
                extra.append(self.t.plain("web.timeline.date", date=details["date"]))
            if details.get("studio_name"):
                extra.append(self.t.plain("web.timeline.name", name=details["studio_name"]))
            if details.get("reopen"):
                extra.append(self.t.plain("web.timeline.reopen", sections=self.t.join(
                    [self.t.plain(f"section.{x}") for x in details["reopen"]])))
            out.append({"when": local(self.ctx, e.at), "who": self._name(e.actor_id),
                        "action": self.t.plain(f"action.{e.action}") if self.t.has(f"action.{e.action}") else e.action,
                        "status": self.t.plain(f"status.{e.to_status}"), "opinion": e.opinion or "",
                        "extra": "；".join(extra) if self.t.lang == "zh" else "; ".join(extra)})
        return out

    def rounds(self) -> list[dict[str, Any]]:
        """For each resubmission, what changed since the return before it (both sides in full)."""
        snapshots: list[tuple[AuditEvent, dict[str, Any], dict[str, Any]]] = []
        resubmitted: list[AuditEvent] = []
        for e in self.b.trail:
            if e.action in RETURNS and isinstance((e.details or {}).get("answers"), dict):
                snapshots.append((e, e.details["answers"], (e.details or {}).get("files") or {}))  # type: ignore[index]
            elif e.action in SUBMISSIONS and snapshots and len(resubmitted) < len(snapshots):
                resubmitted.append(e)
        out = []
        for i, (ret, before, files_before) in enumerate(snapshots):
            if i >= len(resubmitted):
                break
            after, files_after = (snapshots[i + 1][1], snapshots[i + 1][2]) if i + 1 < len(snapshots) else (
                self.answers, self.b.app.files or {})
            changes = []
            for f in form.STEPS:
                if f.ask in (Ask.PHOTOS, Ask.VIDEO):
                    old, new = str(files_before.get(f.key, 0)), str(files_after.get(f.key, 0))
                else:
                    old, new = self.value(f, before), self.value(f, after)
                    if f.ask is Ask.DOCUMENT and files_before.get(f.key, 0) != files_after.get(f.key, 0):
                        old += f" [{files_before.get(f.key, 0)}]"
                        new += f" [{files_after.get(f.key, 0)}]"
                if old != new:
                    changes.append({"label": self.label(f), "before": old or "—", "after": new or "—"})
            out.append({"n": i + 2, "remark": ret.opinion or "", "when": local(self.ctx, resubmitted[i].at),
                        "reopen": self.t.join([self.t.plain(f"section.{x}") for x in
                                               (ret.details or {}).get("reopen") or []]), "changes": changes})
        return out


async def _decisions(ctx: Ctx, s: AsyncSession, v: Viewer, app: Application, season: Season) -> list[dict[str, Any]]:
    """The decisions the viewer may take now, each with what it records (as the chat's steps ask)."""
    level = workflow.level_of(Status(app.status))
    if not level:
        return []
    role = Role.DISTRICT if level == 1 else Role.CITY
    out = []
    for action in workflow.actions_for(Status(app.status), role, first_year=season.first_year):
        try:
            t = await svc_review.check(s, app, v.id, v.roles, action, season.first_year)
        except NotAllowed:
            continue
        if getattr(t, "batch", False):  # decided for a whole list at once (the meeting), not one by one
            continue
        steps = [st.value for st in t.steps]
        out.append({
            "action": action.value, "label": v.t.plain(f"action.{action.value}"), "steps": steps,
            "required": t.opinion is workflow.Opinion.REQUIRED,
            "box": v.t.plain(f"box.{t.box.value}") if t.box else "",
            "opinion": v.t.plain(DEFAULT_OPINION[action]) if action in DEFAULT_OPINION else "",
            "target": v.t.plain(f"status.{t.target.value}"),
        })
    return out


async def decide(ctx: Ctx) -> Response:
    """A decision from the page: the same checks as the buttons, the same effects in the same outbox."""
    app_id = int(ctx.request.path_params["app_id"])
    try:
        body = await ctx.request.json()
        action = Action(str(body.get("action")))
        shown = Status(str(body.get("status")))  # the status the page showed when the decision was typed
    except (ValueError, TypeError, AttributeError):
        raise Refused(400, "workflow.denied.forged") from None
    async with ctx.svc.db.session() as s:
        await ctx.load(s)
    result: dict[str, Any] = {}

    async def work(rq: Rq) -> None:
        t = rq.t
        app = await repo.get_application(rq.session, app_id)
        if app is None or not await svc_review.may_view(rq.session, app, rq.user.id, rq.roles):
            result["refused"] = Refused(403, "web.denied.not_yours")
            return
        if app.status != shown.value:  # someone moved it since the page was shown
            last = await repo.last_transition(rq.session, app.id)
            actor = await repo.get_user(rq.session, last.actor_id) if last and last.actor_id else None
            result["refused"] = Refused(
                409, "workflow.denied.decided", who=actor.display_name if actor else "",
                when=local(ctx, last.at if last else None),
                action=t.plain(f"action.{last.action}") if last and t.has(f"action.{last.action}") else "",
                status=t.plain(f"status.{app.status}"))
            _audit_refused(rq, app, action, "decided")
            return
        season = await repo.ensure_season(rq.session, app.season_year)
        d, problem = _decision(body)
        if problem is not None:
            result["refused"] = Refused(400, problem, max=OPINION_MAX, **date_examples(rq.svc.today()))
            return
        try:
            await svc_review.decide(rq.session, app, rq.user.id, rq.roles, action, d, rq.svc.clock.now(),
                                    first_year=season.first_year, tz=rq.svc.settings.tz)
            await rq.session.flush()
        except NotAllowed as exc:
            code = 403 if exc.reason in ("role", "union", "unknown_action") else (
                400 if exc.reason in ("opinion_required", "date_required") else 409)
            result["refused"] = Refused(code, f"workflow.denied.{exc.reason}", status=t.plain(f"status.{app.status}"))
            _audit_refused(rq, app, action, exc.reason)
            return
        await notify.transitioned(rq, app, action.value, own_card=True)
        result["message"] = t.plain("review.done", number=app.number or "", action=t.plain(f"action.{action.value}"),
                                    status=t.plain(f"status.{app.status}"))

    context = BotContext(ctx.web.application)
    for _ in range(RETRIES):
        try:
            await run_as(context, ctx.who.id, ctx.who.id, work)
            break
        except LookupError:
            raise Refused(403, "web.denied.no_role") from None
        except StaleDataError:  # two decisions at once: again, and the other one is seen (and named)
            result.clear()
    else:
        raise Refused(409, "web.denied.concurrent")
    if "refused" in result:
        raise result["refused"]
    return JSONResponse({"ok": True, "message": result["message"]})


def _audit_refused(rq: Rq, app: Application, action: Action, why: str) -> None:
    repo.audit(rq.session, rq.svc.clock.now(), "refused", application_id=app.id, actor_id=rq.user.id,
               details={"action": action.value, "why": why, "via": "web", "ref": uuid.uuid4().hex[:8]})


def _decision(body: Mapping[str, Any]) -> tuple[svc_review.Decision, str | None]:
    """The parts of a decision as typed on the page, checked as the chat checks them."""
    opinion = str(body.get("opinion") or "").strip() or None
    if opinion is not None and len(opinion) > OPINION_MAX:
        return svc_review.Decision(), "review.opinion_length"
    raw_on = str(body.get("on") or "").strip()
    on: date | None = parse_date_or_none(raw_on) if raw_on else None
    if raw_on and on is None:
        return svc_review.Decision(), "review.bad_date"
    reopen = [x for x in body.get("reopen") or [] if x in form.SECTIONS] if isinstance(body.get("reopen"), list) \
        else []
    return svc_review.Decision(opinion=opinion, on=on, reopen=reopen or None), None


# --------------------------------------------------------------------------- files


async def attachment(ctx: Ctx) -> Response:
    """A photo or a document of an application, only to those who may see the application."""
    file_id = int(ctx.request.path_params["file_id"])
    async with ctx.svc.db.session() as s:
        v = await ctx.load(s)
        att = await s.get(Attachment, file_id)
        app = await repo.get_application(s, att.application_id) if att and att.application_id else None
        if att is None or app is None or not await svc_review.may_view(s, app, v.id, v.roles):
            raise Refused(403, "web.denied.not_yours")
    path = (ctx.svc.settings.data_dir / att.stored_path).resolve()
    root = ctx.svc.settings.data_dir.resolve()
    if root not in path.parents or not path.is_file():
        raise Refused(404, "web.denied.gone")
    return ctx.web.file(path, att.mime_type, _download_name(att))


def _download_name(att: Attachment) -> str:
    if att.original_name:
        return att.original_name
    return f"{att.field}-{att.id}{_suffix(att.stored_path)}"


def _suffix(path: str) -> str:
    dot = path.rfind(".")
    return path[dot:] if dot > path.rfind("/") else ""

