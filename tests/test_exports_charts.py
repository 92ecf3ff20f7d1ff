"""Exports and charts made by background jobs and sent into the team's chat: the files
are opened and checked (sheets, columns, vote coding, pseudonyms only), the charts are
valid PNGs of a size a phone shows well; and a job that fails tells whoever asked."""

from __future__ import annotations

import asyncio
import csv
import io
import struct
from datetime import UTC, date, datetime, timedelta

from openpyxl import load_workbook
from sqlalchemy import select

from bot.channels.base import BadRequest, ContactStopped, Throttled
from bot.jobs import MAX_ATTEMPTS, JobRunner
from handlers.engine import Engine
from handlers.insights.context import Reporting
from handlers.insights.theme_runs import refresh_themes
from handlers.types import Inbound, Reply
from storage.models import Job
from tests.conftest import insights_settings
from tests.insights_data import (
    ADMIN,
    IDEAS,
    PEOPLE,
    VIEWER,
    RecordingChannel,
    services_of,
    team_member,
)
from tests.running_chorus import chorus_server

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def run_jobs(engine: Engine, channel: RecordingChannel | None = None) -> list[Reply]:
    channel = channel or RecordingChannel("telegram")
    await JobRunner(services_of(engine), {"telegram": channel}).run_until_idle()
    return [reply for _address, replies in channel.sent for reply in replies]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


async def test_xlsx_export_has_every_table_pseudonyms_only_and_the_vote_coding(
    team_engine: Engine,
) -> None:
    admin = team_member(team_engine, ADMIN)
    await admin.say("/export")
    assert admin.keys == ["team:working_export"]
    (reply,) = await run_jobs(team_engine)
    document = reply.attachment
    assert document.mime_type == XLSX and document.filename.endswith(".xlsx")
    assert document.caption == (
        f"{document.filename}, rows: contributions 5, ideas 5, themes 0 (all questions, all "
        "time). Vote coding: agree = 1, disagree = -1, skip = 0."
    )
    workbook = load_workbook(io.BytesIO(document.content), read_only=True)
    assert workbook.sheetnames == ["About", "Contributions", "Ideas", "Themes"]
    about = {
        row[0]: row[1] for row in workbook["About"].iter_rows(values_only=True) if len(row) > 1
    }
    assert about["Vote coding"] == "agree = 1, disagree = -1, skip = 0"
    assert about["Rows: contributions"] == 5 and about["Rows: ideas"] == 5

    contributions = list(workbook["Contributions"].iter_rows(values_only=True))
    header = contributions[0]
    assert {"participant", "channel", "language", "text", "label"} <= set(header)
    column = header.index("participant")
    assert all(len(row[column]) == 12 for row in contributions[1:])
    ideas = list(workbook["Ideas"].iter_rows(values_only=True))
    names = ideas[0]
    assert names[names.index("channel")] and "language" in names
    i1 = dict(zip(names, next(r for r in ideas if r[0] == IDEAS["I1"]), strict=True))
    assert (i1["agree_votes (coded 1)"], i1["disagree_votes (coded -1)"]) == (7, 1)
    assert i1["skip_votes (coded 0)"] == 0 and i1["mean_vote (-1 to 1)"] == 0.75
    assert i1["net_vote (sum of coded votes: agree = 1, disagree = -1, skip = 0)"] == 6
    cells = " ".join(
        str(value)
        for sheet in workbook.worksheets
        for row in sheet.iter_rows(values_only=True)
        for value in row
        if not isinstance(value, float)  # a polarity such as -0.7104 holds no one's id
    )
    workbook.close()
    for platform_id, _channel in PEOPLE.values():
        assert platform_id not in cells
    async with team_engine.store.reader() as unit:
        entry = (await unit.audit.recent())[0]
    assert (entry["action"], entry["target"]) == ("export", "xlsx")
    assert entry["actor"].startswith("team:") and entry["detail"]["rows"] == 10
    assert entry["detail"]["by"] == {"name": "Priya", "role": "admin"} and entry["at"]


async def test_csv_export_sends_one_file_per_table(team_engine: Engine) -> None:
    await refresh_themes(Reporting.of(team_engine.deps), team_engine.question_ids["ahp-action"])
    admin = team_member(team_engine, ADMIN)
    await admin.say("/export csv ahp-action")
    replies = await run_jobs(team_engine)
    files = {r.attachment.filename.split("-")[-1]: r.attachment for r in replies}
    assert set(files) == {"contributions.csv", "ideas.csv", "themes.csv"}
    assert all(f.mime_type == "text/csv" for f in files.values())
    rows = list(csv.DictReader(io.StringIO(files["ideas.csv"].content.decode("utf-8-sig"))))
    assert len(rows) == 5 and rows[0]["agree_votes (coded 1)"] == "7"
    assert "net_vote (sum of coded votes: agree = 1, disagree = -1, skip = 0)" in rows[0]
    assert {row["channel"] for row in rows} == {"telegram", "sms", "console"}
    contributions = list(
        csv.DictReader(io.StringIO(files["contributions.csv"].content.decode("utf-8-sig")))
    )
    assert {"channel", "language", "participant"} <= set(contributions[0])
    i1 = next(row for row in contributions if row["id"] == str(IDEAS["I1"]))
    assert (i1["agree_votes (coded 1)"], i1["disagree_votes (coded -1)"]) == ("7", "1")
    assert i1["skip_votes (coded 0)"] == "0" and "agree" not in i1
    # Themes: each with its ideas by channel and by language, adding up to its size.
    themes = list(csv.DictReader(io.StringIO(files["themes.csv"].content.decode("utf-8-sig"))))
    assert themes and sum(int(t["ideas"]) for t in themes) == 4
    for theme in themes:
        for column in ("channels", "languages"):
            counts = [int(part.rsplit(" ", 1)[1]) for part in theme[column].split(", ")]
            assert sum(counts) == int(theme["ideas"]), (column, theme)
    assert {part.split()[0] for t in themes for part in t["channels"].split(", ")} == {
        "telegram", "sms", "console"
    }  # fmt: skip
    assert {t["languages"].split()[0] for t in themes} == {"en"}


async def test_charts_are_readable_pngs(team_engine: Engine) -> None:
    viewer = team_member(team_engine, VIEWER)
    await viewer.say("/chart")
    assert viewer.choices == ["chart:activity", "chart:sentiment", "chart:reach"]
    for name in ("activity", "sentiment", "reach"):
        await viewer.press(f"chart:{name}")
        assert viewer.keys == ["team:working_chart"]
    replies = await run_jobs(team_engine)
    assert len(replies) == 3
    for reply, name in zip(replies, ("activity", "sentiment", "reach"), strict=True):
        picture = reply.attachment
        assert picture.mime_type == "image/png" and picture.filename == f"chorus-{name}.png"
        assert png_size(picture.content) == (1200, 900)
        assert 10_000 < len(picture.content) < 400_000
    assert "Contributions per day by channel" in replies[0].attachment.caption
    assert "Sentiment by role" in replies[1].text
    assert "Representation against targets" in replies[2].text


def test_charts_draw_with_no_data_and_for_a_single_day() -> None:
    from handlers.insights.charts import draw_activity, draw_reach, draw_sentiment

    for png in (
        draw_activity([], {}, "Contributions per day by channel"),
        draw_activity([date(2026, 12, 1)], {"sms": [3], "telegram": [2]}, "One day"),
        draw_sentiment({}, "Sentiment by role"),
        draw_reach([], "Representation against targets"),
    ):
        assert png_size(png) == (1200, 900) and 10_000 < len(png) < 400_000


async def test_chart_buttons_keep_the_scope_asked_for(team_engine: Engine) -> None:
    viewer = team_member(team_engine, VIEWER)
    await viewer.say("/chart ahp-action 7d")
    assert viewer.choices == [
        f"chart:{name}:ahp-action:7d" for name in ("activity", "sentiment", "reach")
    ]
    await viewer.press("chart:reach:ahp-action:7d")
    (reply,) = await run_jobs(team_engine)
    assert reply.text == (
        "Representation against targets: question ahp-action, last 7 days (since 25 Nov 2026)"
    )


async def test_a_failing_job_is_retried_then_the_requester_is_told(team_engine: Engine) -> None:
    async with team_engine.store.transaction() as unit:
        await unit.jobs.enqueue(
            "chart",
            {"name": "pie"},
            team_engine.clock(),
            requested_by="team:x",
            reply_channel="telegram",
            reply_address_encrypted=team_engine.contacts.encrypt(ADMIN),
        )
    channel = RecordingChannel("telegram")
    runner = JobRunner(services_of(team_engine), {"telegram": channel})
    for _attempt in range(MAX_ATTEMPTS):
        assert await runner.run_once() == 1
        assert await runner.run_once() == 0  # not due again until its back-off is over
        team_engine.clock.advance(hours=1)
    ((address, (reply,)),) = channel.sent
    assert address == ADMIN and reply.key == "team:job_failed"
    assert reply.text == "Sorry, your chart could not be made: unknown chart 'pie'"
    async with team_engine.store.reader() as unit:
        job = await unit.session.scalar(select(Job))
    assert (job.status, job.attempts) == ("failed", MAX_ATTEMPTS)


class FlakyChannel(RecordingChannel):
    def __init__(self, errors: list[Exception]) -> None:
        super().__init__("telegram")
        self.errors = errors

    async def deliver(self, address, replies) -> None:
        if self.errors:
            raise self.errors.pop(0)
        await super().deliver(address, replies)


async def test_delivery_failures_are_judged_by_type(team_engine: Engine) -> None:
    admin = team_member(team_engine, ADMIN)
    await admin.say("/chart reach")
    channel = FlakyChannel([Throttled("slow down", retry_after=120)])
    runner = JobRunner(services_of(team_engine), {"telegram": channel})
    assert await runner.run_once() == 1 and channel.sent == []
    async with team_engine.store.reader() as unit:
        job = await unit.session.scalar(select(Job))
    assert job.status == "queued" and job.run_after - team_engine.clock.now <= timedelta(
        seconds=120
    )
    team_engine.clock.advance(minutes=3)
    assert await runner.run_once() == 1 and len(channel.sent) == 1

    await admin.say("/chart activity")
    channel.errors.append(ContactStopped("blocked the bot"))
    assert await runner.run_once() == 1
    async with team_engine.store.reader() as unit:
        statuses = list(await unit.session.scalars(select(Job.status).order_by(Job.id)))
    assert statuses == ["done", "done"] and len(channel.sent) == 1

    # Refused by the chat (a file too large, say): the requester is told in plain text.
    await admin.say("/chart sentiment")
    channel.errors.append(BadRequest("Request Entity Too Large"))
    assert await runner.run_once() == 1
    ((_address, (told,)),) = channel.sent[1:]
    assert told.key == "team:job_undelivered" and told.attachment is None
    assert told.text == (
        "Sorry, your chart was made but could not be sent here: Request Entity Too Large"
    )


async def test_an_export_too_big_for_a_chat_is_refused_with_a_way_out(
    team_engine: Engine, monkeypatch
) -> None:
    import handlers.team.jobs

    monkeypatch.setattr(handlers.team.jobs, "CHAT_EXPORT_ROWS", 4)
    admin = team_member(team_engine, ADMIN)
    await admin.say("/export")
    (reply,) = await run_jobs(team_engine)
    assert reply.key == "team:export_too_big" and reply.attachment is None
    assert reply.text.startswith(
        "That export holds 5 contributions, more than a chat can carry (at most 4)."
    )
    assert "chorus export --format xlsx --out FILE" in reply.text
    await admin.say("/export ahp-action 2026-12-02")  # nothing in scope: small enough
    (reply,) = await run_jobs(team_engine)
    assert reply.key == "team:export_ready"
    async with team_engine.store.reader() as unit:
        exports = [e for e in await unit.audit.recent() if e["action"] == "export"]
    assert len(exports) == 1  # only the export that was sent


async def test_running_chorus_sends_the_chart_soon_after_the_command(database_url: str) -> None:
    runtime = chorus_server(insights_settings(database_url))
    await runtime.start()
    try:
        channel = RecordingChannel("telegram")
        runtime.job_runner.channels["telegram"] = channel
        command = Inbound(
            channel="telegram",
            sender=ADMIN,
            message_id="tg-chart-1",
            received_at=datetime.now(UTC),
            text="/chart activity",
        )
        outcome = await runtime.services.delivery.handle(command)
        assert [reply.key for reply in outcome.replies] == ["team:working_chart"]
        async with asyncio.timeout(60):
            await runtime.job_runner.wait_until_completed(1)
        ((address, (reply,)),) = channel.sent
        assert address == ADMIN and reply.attachment.mime_type == "image/png"
    finally:
        await runtime.stop()


async def test_settled_jobs_are_forgotten_after_a_month(team_engine: Engine) -> None:
    admin = team_member(team_engine, ADMIN)
    await admin.say("/chart reach")
    runner = JobRunner(services_of(team_engine), {"telegram": RecordingChannel("telegram")})
    assert await runner.run_once() == 1
    team_engine.clock.advance(days=31)
    await runner.schedule()  # also queues fresh themes and similar ideas for the ideas
    async with team_engine.store.reader() as unit:
        kinds = sorted(await unit.session.scalars(select(Job.kind)))
    assert kinds == ["similar", "themes"]
