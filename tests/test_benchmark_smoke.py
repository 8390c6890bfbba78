"""The benchmark (benchmarks/benchmark.py) runs end to end with tiny numbers. Not timed: no figure is judged here."""

from __future__ import annotations

import re
from collections import Counter

from sqlalchemy import select

from benchmarks import benchmark
from storage.db import Database
from storage.models import Application, Attachment, OpinionRecord


async def test_benchmark_runs_end_to_end_and_prints_every_figure(tmp_path, capsys):
    args = benchmark.parse_args(["--applicants", "3", "--sequential", "1", "--prefill", "50",
                                 "--docx-sample", "2", "--pdf-bulk", "2", "--workdir", str(tmp_path)])
    report = await benchmark.run(args)
    out = capsys.readouterr().out

    assert re.search(r"^machine: \d+ cores", out, re.M)
    assert re.search(r"^python: CPython .*python-telegram-bot \d+", out, re.M)
    for name in benchmark.FIGURES:
        line = re.search(rf"^{re.escape(name)}: (.+)$", out, re.M)
        assert line, f"figure {name!r} not printed:\n{out}"
        assert re.search(r"\((target .+\) (OK|MISSED)|info)|n/a", line.group(1)), line.group(0)

    # the store-and-reply bot ran, and the counted figures are there and sane (never a speed)
    def figure(name: str) -> tuple[float, str]:
        line = re.search(rf"^{re.escape(name)}: ([\d,.]+)(.*)$", out, re.M)
        assert line, f"{name} has no value:\n{out}"
        return float(line.group(1).replace(",", "")), line.group(2)

    anchor, note = figure("store-and-reply bot throughput")
    assert anchor > 0 and "3.00 SQL statements per update" in note, note
    ratio, _ = figure("throughput ratio studio/store-and-reply")
    assert ratio > 0
    cpu, note = figure("CPU per update under load")
    assert 0 < cpu < 1000 and re.search(r"the store-and-reply bot [\d.]+ ms \(ratio [\d.]+\)", note), note
    sql, note = figure("SQL statements per update")
    assert 1 < sql < 40 and re.search(r"by kind: .*SELECT [\d.]+.*INSERT [\d.]+", note), note
    api, note = figure("Bot API calls per update")
    assert 1 <= api < 10 and re.search(r"by method: .*sendMessage [\d.]+", note), note
    messages, note = figure("new messages per application")
    assert 10 < messages < 200 and "to the applicant" in note, note

    # the simulated applicants' applications are stored complete, submitted and forwarded
    assert report.problems == [] and report.errors == 0, (report.problems, out)
    assert len(report.applicant_ids) == 4
    db = Database(report.workload_db)
    try:
        async with db.session() as s:
            apps = (await s.scalars(select(Application)
                                    .where(Application.applicant_id.in_(report.applicant_ids)))).all()
            district = Counter((await s.scalars(select(OpinionRecord.application_id)
                                                .where(OpinionRecord.box == "district"))).all())
            fields: dict[int, list[str]] = {}
            for att in (await s.scalars(select(Attachment))).all():
                fields.setdefault(att.application_id or 0, []).append(att.field)
        assert len(apps) == 4
        for app in apps:
            assert app.status == "forwarded" and app.number and app.submitted_at is not None
            assert app.answers["leader_name"] and app.answers["members"]
            assert sorted(fields[app.id]) == ["photos"] * 3 + ["recommendation"]
            assert district[app.id] == 1
    finally:
        await db.dispose()
