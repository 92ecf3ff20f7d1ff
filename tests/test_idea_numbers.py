"""Ideas are numbered in their own sequence (comments take no number), the replies that
name "idea N" use that number, COMMENT N finds the idea people know as N, and a store
upgraded from before the numbers were kept has its ideas numbered in order."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from handlers.engine import Engine
from storage.database import Store
from storage.models import Contribution
from storage.records import NewContribution
from tests.people import Person


async def numbers(store: Store) -> list[tuple[str, int | None]]:
    async with store.reader() as unit:
        rows = await unit.session.execute(
            select(Contribution.kind, Contribution.idea_number).order_by(Contribution.id)
        )
        return [tuple(row) for row in rows]


async def test_comments_take_no_idea_number(engine: Engine, store: Store) -> None:
    ada, bea = Person(engine, "ada"), Person(engine, "bea")
    await ada.join()
    await bea.join()
    await ada.say("idea More physios in GP surgeries")
    assert "saved as idea 1." in ada.text
    await bea.say("comment 1 Yes, and longer appointments")
    assert bea.keys == ["comment_saved", "menu"] and "idea 1 " in bea.text
    await bea.say("comment 1 And evening clinics too")
    await bea.say("idea Podiatry clinics near bus stops")
    assert "saved as idea 2." in bea.text  # not 4: the two comments are not ideas
    await ada.say("comment 2 Good thinking")
    assert ada.keys == ["comment_saved", "menu"] and "on idea 2 " in ada.text
    assert await numbers(store) == [
        ("idea", 1), ("comment", None), ("comment", None), ("idea", 2), ("comment", None)
    ]  # fmt: skip
    async with store.reader() as unit:
        idea = await unit.contributions.idea_by_number(2)
        comment = await unit.session.scalar(select(Contribution).where(Contribution.id == 5))
    assert idea.text == "Podiatry clinics near bus stops" and idea.id == 4
    assert comment.parent_id == 4  # "comment 2" went on idea 2, not on row 2


async def test_numbers_carry_on_after_the_counter_is_lost(engine: Engine, store: Store) -> None:
    ada = Person(engine, "ada")
    await ada.join()
    await ada.say("idea First idea about clinics")
    async with store.transaction() as unit:
        from storage.models import Checkpoint

        await unit.session.execute(
            Checkpoint.__table__.delete().where(Checkpoint.name == "ideas.next_number")
        )
    await ada.say("idea Second idea about clinics")
    assert "saved as idea 2." in ada.text


async def test_an_upgraded_store_numbers_its_ideas_in_order(database_url: str) -> None:
    from alembic import command

    from storage.migrate import alembic_config

    store = Store.connect(database_url)
    try:
        async with store.engine.begin() as connection:
            await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), "0005"))
        now = datetime(2026, 12, 1, tzinfo=UTC)
        async with store.engine.begin() as connection:
            await connection.exec_driver_sql(
                "INSERT INTO participants (pseudonym, channel, answers, state, opted_out, "
                "unreachable, created_at, last_seen_at) VALUES ('p', 'console', '{}', '{}', "
                "false, false, '2026-12-01 00:00:00', '2026-12-01 00:00:00')"
            )
            for n, kind in enumerate(("idea", "comment", "idea", "idea"), start=1):
                await connection.exec_driver_sql(
                    "INSERT INTO contributions (kind, participant_id, text, label, redactions, "
                    "status, channel, assisted, channel_message_id, agree_count, "
                    "disagree_count, skip_count, vote_count, score, created_at) VALUES "
                    f"('{kind}', 1, 't{n}', 'neutral', '[]', 'visible', 'console', false, "
                    f"'m{n}', 0, 0, 0, 0, 0, '2026-12-01 00:00:00')"
                )
        await store.upgrade()
        assert await numbers(store) == [("idea", 1), ("comment", None), ("idea", 2), ("idea", 3)]
        async with store.transaction() as unit:
            saved = await unit.contributions.add(
                NewContribution(
                    kind="idea", participant_id=1, text="t5", channel="console",
                    channel_message_id="m5", label="neutral", created_at=now,
                )
            )  # fmt: skip
        assert saved.number == 4
    finally:
        await store.close()
