"""`/results`: the results registry (成果) in chat. A studio's leader lists the studio's results and records
one at any time; an applicant records the last years' results of the application being drafted (R-E5);
the year report adds the year's results the same way (R-D5).

A result is asked field by field as `bot.domain.results.FIELDS` declares it; what was answered lives in
the flow's waiting slot (`conversations.inputs`), so a refused answer loses nothing, and nothing is
stored until the summary is saved.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from telegram import InlineKeyboardButton as Btn
from telegram import InlineKeyboardMarkup
from telegram.ext import Application, BaseHandler, CallbackQueryHandler, CommandHandler

from bot import callbacks as cb
from bot import effects
from bot import files as fileio
from bot.callbacks import ReportOp, ResultOp
from bot.domain import results as dom
from bot.domain.results import Ask
from bot.domain.workflow import EDITABLE, Role
from bot.runtime import Rq, handler
from bot.services import StoredFile
from bot.services import results as svc
from bot.services import studios as svc_studios
from bot.views import results as views
from conversations import inputs
from storage import repo
from storage.models import Application as App
from storage.models import Result, Studio

RESULTS = inputs.Flow.of("results", cb.ResultBtn)
CERT_TYPES = {"application/pdf", "image/jpeg", "image/png"}


# --------------------------------------------------------------------------- whose results


async def _owner(rq: Rq, kind: str, ref: int) -> Studio | App | None:
    """The studio the user leads (active) or the application they draft, else None."""
    if kind == "a":
        app = await rq.session.get(App, ref)
        ok = app is not None and app.applicant_id == rq.user.id and app.status in {s.value for s in EDITABLE}
        return app if ok else None
    studio = await rq.session.get(Studio, ref)
    return studio if studio is not None and studio.leader_id == rq.user.id and studio.status == svc_studios.ACTIVE \
        else None


def _owner_name(rq: Rq, owner: Studio | App) -> str:
    if isinstance(owner, Studio):
        return owner.name
    return rq.t.plain("result.owner.application", year=owner.season_year)


async def _rows(rq: Rq, owner: Studio | App) -> list[Result]:
    if isinstance(owner, Studio):
        return await svc.of_studio(rq.session, owner)
    return await svc.of_application(rq.session, owner.id)


def _ref(owner: Studio | App) -> tuple[str, int]:
    return ("s" if isinstance(owner, Studio) else "a"), owner.id


async def _list(rq: Rq, owner: Studio | App, note: str | None = None,
                report: int | None = None) -> tuple[str, Any]:
    """The owner's results; from a year report (`report`), a new result returns to it too."""
    kind, ref = _ref(owner)
    rows = [(r.id, dom.record_of(r)) for r in await _rows(rq, owner)]
    add = views.btn(rq.t.plain("result.button.add"), ResultOp.ADD, ref, kind, str(report) if report else None)
    text, markup = views.list_screen(rq.t, _owner_name(rq, owner), rows, add, note)
    if report:  # the report's own button takes the leader back to its results step
        back = Btn(rq.t.plain("result.button.back_report"),
                   callback_data=cb.ReportBtn(ReportOp.EDIT, report, "results").encode())
        markup = InlineKeyboardMarkup([[back], *markup.inline_keyboard])
    return text, markup


@handler
async def cmd_results(rq: Rq) -> None:
    t = rq.t
    inputs.done(rq, RESULTS)
    studios = [x for x in await svc_studios.leader_studios(rq.session, rq.user.id) if x.status == svc_studios.ACTIVE]
    owners: list[Studio | App] = list(studios)
    if not owners:
        draft = await svc.draft_of(rq.session, rq.user.id)
        if draft is not None:
            owners.append(draft)
    if not owners:
        rq.reply(t("result.not_yours"))
        return
    for owner in owners[:5]:
        rq.reply(*await _list(rq, owner))


# --------------------------------------------------------------------------- recording a result


def _asked(record: dict[str, Any]) -> list[dom.ResultField]:
    return [f for f in dom.FIELDS if dom.asked(f, record)]


def _prompt(rq: Rq, state: dict[str, Any], note: str | None = None) -> tuple[str, Any]:
    record = state["rec"]
    if state["step"] == "confirm":
        return views.confirm_screen(rq.t, record, state.get("fname"), note)
    f = dom.BY_KEY[state["step"]]
    fields = _asked(record)
    return views.ask_screen(rq.t, f, record, fields.index(f) + 1, len(fields), note)


def _advance(state: dict[str, Any]) -> None:
    nxt = dom.next_field(state["rec"], state["step"])
    state["step"] = nxt.key if nxt is not None else "confirm"


def _forget_file(rq: Rq, state: dict[str, Any]) -> None:
    rel = (state.get("file") or {}).get("stored_path")
    if rel:
        (rq.svc.settings.data_dir / rel).unlink(missing_ok=True)


async def _start(rq: Rq, data: cb.ResultBtn) -> None:
    owner = await _owner(rq, data.v or "s", data.ref)
    if owner is None:
        rq.refuse(rq.t("result.not_yours"), "not_own_results")
        return
    kind, ref = _ref(owner)
    state: dict[str, Any] = {"owner": [kind, ref], "step": dom.FIELDS[0].key, "rec": {}}
    if data.at and data.at.isdigit():
        state["report"] = int(data.at)
    inputs.wait(rq, RESULTS, state)
    rq.edit(*_prompt(rq, state))


async def _save(rq: Rq, state: dict[str, Any]) -> None:
    t = rq.t
    kind, ref = state["owner"]
    owner = await _owner(rq, kind, ref)
    if owner is None:
        inputs.done(rq, RESULTS)
        rq.refuse(t("result.not_yours"), "not_own_results")
        return
    cert = StoredFile(**state["file"]) if state.get("file") else None
    try:
        await svc.add(rq.session, state["rec"], today=rq.svc.today(), now=rq.svc.clock.now(), actor_id=rq.user.id,
                      studio=owner if isinstance(owner, Studio) else None,
                      application=owner if isinstance(owner, App) else None,
                      source="report" if state.get("report") else "chat", certificate=cert)
    except svc.Refused as exc:
        rq.edit(*_prompt(rq, state, "⚠️ " + t(exc.key, **exc.params)))
        return
    inputs.done(rq, RESULTS)
    rq.edit(*await _list(rq, owner, t("result.saved"), state.get("report")))


async def _answer(rq: Rq, data: cb.ResultBtn) -> None:
    t = rq.t
    state = inputs.state(rq, RESULTS)
    if state is None or data.at != state.get("step"):
        rq.refuse(t("error.stale_button"), "stale")
        return
    f = dom.BY_KEY[state["step"]]
    if data.op is ResultOp.SKIP and not f.required:
        state["rec"][f.key] = None
        if f.ask is Ask.FILE:
            _forget_file(rq, state)
            state["file"] = state["fname"] = None
    else:
        raw: Any = data.v if data.op is ResultOp.PICK else data.op is ResultOp.YES
        try:
            state["rec"][f.key] = dom.parse(f, raw, rq.svc.today())
        except dom.Invalid as exc:
            rq.alert(t.plain(exc.key, **exc.params))
            return
    _advance(state)
    inputs.wait(rq, RESULTS, state)
    rq.edit(*_prompt(rq, state))


async def _view(rq: Rq, data: cb.ResultBtn) -> None:
    t = rq.t
    row = await rq.session.get(Result, data.ref)
    owner = await _owner_of(rq, row) if row is not None else None
    if row is None or owner is None:
        rq.refuse(t("error.stale_button"), "stale")
        return
    cert = await svc.certificate(rq.session, row)
    name = (cert.original_name or fileio.label(cert.mime_type or "")) if cert else None
    kind, ref = _ref(owner)
    if data.op is ResultOp.CERT:
        if cert is not None:
            rq.owe(effects.file(rq.chat_id, "photo" if cert.kind == "photo" else "document", cert.telegram_file_id))
        rq.toast(t.plain("result.sending"))
        return
    if data.op is ResultOp.DEL:
        rq.edit(*views.remove_screen(t, row.id, dom.record_of(row)))
        return
    if data.op is ResultOp.DELOK:
        await svc.remove(rq.session, row, rq.user.id, rq.svc.clock.now())
        rq.edit(*await _list(rq, owner, t("result.removed")))
        return
    back = views.btn(t.plain("result.button.list"), ResultOp.LIST, ref, kind)
    rq.edit(*views.view_screen(t, row.id, dom.record_of(row), name, back, may_remove=True))


async def _owner_of(rq: Rq, row: Result) -> Studio | App | None:
    if row.studio_id is not None:
        return await _owner(rq, "s", row.studio_id)
    if row.application_id is not None:
        found = await _owner(rq, "a", row.application_id)
        if found is not None:
            return found
        studio = await svc.studio_named_by(rq.session, row.application_id)
        return await _owner(rq, "s", studio.id) if studio is not None else None
    return None


@handler
async def on_button(rq: Rq) -> None:
    t = rq.t
    data = cb.decode(rq.query.data if rq.query else None)
    if not isinstance(data, cb.ResultBtn):
        rq.refuse(t("error.bad_button"), "bad_button")
        return
    if data.op is ResultOp.ADD:
        await _start(rq, data)
    elif data.op is ResultOp.LIST:
        owner = await _owner(rq, data.v or "s", data.ref)
        if owner is None:
            rq.refuse(t("result.not_yours"), "not_own_results")
            return
        rq.edit(*await _list(rq, owner))
    elif data.op in (ResultOp.VIEW, ResultOp.DEL, ResultOp.DELOK, ResultOp.CERT):
        await _view(rq, data)
    elif data.op is ResultOp.CANCEL:
        state = inputs.state(rq, RESULTS)
        if state is not None:
            _forget_file(rq, state)
        inputs.done(rq, RESULTS)
        rq.edit(t("result.cancelled"))
    elif data.op is ResultOp.SAVE:
        state = inputs.state(rq, RESULTS)
        if state is None or state.get("step") != "confirm":
            rq.refuse(t("error.stale_button"), "stale")
            return
        await _save(rq, state)
    else:
        await _answer(rq, data)


async def _take_file(rq: Rq, state: dict[str, Any]) -> str | None:
    """The certificate of the message into the state; a refusal's text, or None when it was taken."""
    msg = rq.update.effective_message
    assert msg is not None
    item = fileio.incoming(msg, "photo") if msg.photo else None
    if item is None and msg.document is not None:
        d = msg.document
        item = fileio.Incoming(d.file_id, d.file_unique_id, "document", d.mime_type or "", d.file_size,
                               fileio.safe_name(d.file_name))
    if item is None:
        return rq.t("result.error.want_file")
    try:
        dom.check_size(item.size)
    except dom.Invalid as exc:
        return rq.t(exc.key, **exc.params)
    if item.kind != "photo" and item.mime_type not in CERT_TYPES:
        return rq.t("result.error.file_type")
    try:
        rel, size, sha = await fileio.take(rq.context.bot, item, [], rq.svc.settings.data_dir, "results")
    except fileio.FileRefused as exc:
        return rq.t(exc.key, **exc.params)
    rq.undo.append(lambda: (rq.svc.settings.data_dir / rel).unlink(missing_ok=True))
    _forget_file(rq, state)
    state["file"] = asdict(fileio.stored(item, rel, size, sha))
    state["fname"] = item.original_name or fileio.label(item.mime_type or "")
    return None


@handler
async def on_input(rq: Rq) -> None:
    t = rq.t
    state = inputs.state(rq, RESULTS)
    msg = rq.update.effective_message
    if state is None or msg is None:
        return
    step = state.get("step")
    f = dom.BY_KEY.get(str(step))
    if f is None or f.ask in (Ask.CHOICE, Ask.YESNO):
        rq.reply(*_prompt(rq, state, "⚠️ " + t("result.use_buttons")))
        return
    if f.ask is Ask.FILE:
        refused = await _take_file(rq, state)
        if refused is not None:
            rq.reply(*_prompt(rq, state, "⚠️ " + refused))
            return
        state["rec"][f.key] = state["fname"]
    else:
        if msg.text is None:
            rq.reply(*_prompt(rq, state, "⚠️ " + t("result.error.want_text")))
            return
        try:
            state["rec"][f.key] = dom.parse(f, msg.text, rq.svc.today())
        except dom.Invalid as exc:
            rq.reply(*_prompt(rq, state, "⚠️ " + t(exc.key, **exc.params)))
            return
    _advance(state)
    inputs.wait(rq, RESULTS, state)
    rq.reply(*_prompt(rq, state))


@handler
async def cmd_cancel(rq: Rq) -> None:
    state = inputs.state(rq, RESULTS)
    if state is not None:
        _forget_file(rq, state)
    inputs.done(rq, RESULTS)
    rq.reply(rq.t("result.cancelled"))


@handler
async def cmd_compilation(rq: Rq) -> None:
    """`/compilation [year]`: the year's results compilation (成果汇编, R-C1) for the federation to publish."""
    t = rq.t
    if not rq.roles & {Role.CITY, Role.CONTACT, Role.ADMIN}:
        rq.reply(t("result.compilation.only"))
        return
    year = inputs.year_arg(rq)
    repo.audit(rq.session, rq.svc.clock.now(), "export", actor_id=rq.user.id,
               details={"what": "results_compilation", "year": year})
    rq.reply(t("result.compilation.coming", year=year))
    rq.owe(effects.render(rq.chat_id, "compilation", year=year, lang=rq.lang))


def handlers(app: Application) -> list[BaseHandler[Any, Any, Any]]:
    return [
        *inputs.typed(app, RESULTS, on_input, cmd_cancel),
        CommandHandler("results", cmd_results),
        CommandHandler("compilation", cmd_compilation),
        CallbackQueryHandler(on_button, pattern=cb.ResultBtn.pattern()),
    ]


def register(app: Application) -> None:
    inputs.add_all(app, handlers(app))

