"""Pictures of the two declarations, as Mermaid: the wizard (`bot.domain.form.STEPS`) and the workflow
(`bot.domain.workflow.TABLE`). `docs/diagrams.md` is this module's output, kept current by a test:

    python -m bot.diagrams > docs/diagrams.md
"""

from __future__ import annotations

from bot.domain import form, workflow
from bot.i18n import I18n, Translator


def _label(text: str) -> str:
    return text.replace('"', "'")


def wizard(t: Translator) -> str:
    """The wizard: its sections in order, each with its questions (kind, required or optional)."""
    lines = ["flowchart TD"]
    previous: str | None = None
    for section in form.SECTIONS:
        lines.append(f'    subgraph s_{section}["{_label(t.plain(f"section.{section}"))}"]')
        lines.append("    direction TB")
        fields = [f for f in form.STEPS if f.section == section]
        for f in fields:
            optional = "" if f.required else ", optional"
            label = _label(t.plain(f.label_key))
            lines.append(f'        {f.key}["{label}<br/><small>{f.kind}{optional}</small>"]')
        for a, b in zip(fields, fields[1:], strict=False):
            lines.append(f"        {a.key} --> {b.key}")
        lines.append("    end")
        if previous is not None:
            lines.append(f"    s_{previous} --> s_{section}")
        previous = section
    lines.append(f'    s_{previous} --> summary(["summary, pledge, submit"])')
    return "\n".join(lines)


def states(t: Translator) -> str:
    """The workflow: who moves an application from which status to which, and where the opinion goes."""
    lines = ["stateDiagram-v2", "    [*] --> draft"]
    for s in workflow.Status:
        lines.append(f'    state "{_label(t.plain(f"status.{s.value}"))}" as {s.value}')
    for tr in workflow.TABLE:
        extra = []
        if tr.opinion is not workflow.Opinion.NONE:
            extra.append(f"opinion {tr.opinion.value}" + (f" → {tr.box.value}" if tr.box else ""))
        if tr.needs_date:
            extra.append("date")
        if tr.first_year_only_skip:
            extra.append("first year only")
        if tr.batch:
            extra.append("meeting list")
        if tr.internal:
            extra.append("not told to the applicant")
        note = f" ({', '.join(extra)})" if extra else ""
        for src in sorted(tr.sources, key=list(workflow.Status).index):
            lines.append(f"    {src.value} --> {tr.target.value}: {tr.action.value} by {tr.role.value}{note}")
    lines += ["    approved --> [*]", "    rejected --> [*]"]
    return "\n".join(lines)


def document(i18n: I18n | None = None) -> str:
    t = (i18n or I18n("zh")).get("zh")
    return "\n".join([
        "# The wizard and the workflow",
        "",
        "Generated from the declarations by `python -m bot.diagrams > docs/diagrams.md`; a test fails when",
        "this file and the declarations differ.",
        "",
        "## The wizard (`bot/domain/form.py`)",
        "",
        "```mermaid",
        wizard(t),
        "```",
        "",
        "## The workflow (`bot/domain/workflow.py`)",
        "",
        "```mermaid",
        states(t),
        "```",
        "",
    ])


if __name__ == "__main__":  # pragma: no cover
    print(document(), end="")
