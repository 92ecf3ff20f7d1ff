"""Statements run on the driver's cursor (storage/driver_sql.py) write and read exactly
what `Connection.execute` writes and reads, on both backends: times with their zone,
JSON, booleans, dates, constants in the statement, RETURNING; and a driver error reaches
the store as SQLAlchemy's own exception, so it is answered as before."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Connection, bindparam, exc, insert, select

from storage.database import Store
from storage.driver_sql import DriverStatement, _remembering
from storage.errors import StoreConflict
from storage.tables import PARTICIPANTS
from storage.tallies import PARTICIPATION_UPSERT, _participation_upsert

NOW = datetime(2026, 12, 7, 9, 30, 15, 123456, tzinfo=UTC)


def person(pseudonym: str) -> dict:
    return {
        "pseudonym": pseudonym,
        "channel": "sms",
        "language": "en",
        "answers": {"role": "Physio", "note": "Zoë ✓"},
        "state": {"step": "idea", "seen": [1, 2]},
        "opted_out": False,
        "unreachable": True,
        "created_at": NOW,
        "last_seen_at": NOW + timedelta(minutes=5),
    }


INSERT_PERSON = DriverStatement(insert(PARTICIPANTS).returning(PARTICIPANTS.c.id))
PEOPLE_ON = DriverStatement(
    select(PARTICIPANTS)
    .where(PARTICIPANTS.c.channel == "sms", PARTICIPANTS.c.created_at >= bindparam("since"))
    .order_by(PARTICIPANTS.c.pseudonym)
)


async def test_rows_written_and_read_as_through_sqlalchemy(store: Store) -> None:
    def work(_read: Connection, write: Connection) -> tuple[list, list, int]:
        with write.begin():
            driver_id = INSERT_PERSON.scalar(write, person("by-driver"))
            write.execute(insert(PARTICIPANTS), person("by-core"))
            core = [tuple(r) for r in write.execute(select(PARTICIPANTS).order_by("pseudonym"))]
            driven = PEOPLE_ON.rows(write, {"since": NOW - timedelta(days=1)})
        return core, driven, driver_id

    core, driven, driver_id = await store.run_batch(work)
    assert isinstance(driver_id, int)
    assert [r[1:] for r in core] == [tuple(r)[1:] for r in driven]  # all but the id
    by_core, by_driver = driven
    assert by_driver.id == driver_id and by_driver.pseudonym == "by-driver"
    assert (by_core.answers, by_core.created_at, by_core.unreachable) == (
        {"role": "Physio", "note": "Zoë ✓"},
        NOW,
        True,
    )
    assert tuple(by_core)[2:] == tuple(by_driver)[2:]  # what the two wrote is the same


async def test_executemany_upserts_as_through_sqlalchemy(store: Store) -> None:
    day, later = date(2026, 12, 7), date(2026, 12, 9)

    def rows(pid: int, when: date) -> list[dict]:
        return [
            {"question_id": q, "dimension": "role", "value": "Physio", "participant_id": pid,
             "actions": 1, "first_day": when, "last_day": when}
            for q in (0, 1)
        ]  # fmt: skip

    def work(_read: Connection, write: Connection) -> tuple[list, list]:
        with write.begin():
            one = INSERT_PERSON.scalar(write, person("one"))
            two = INSERT_PERSON.scalar(write, person("two"))
            for when in (later, day):
                PARTICIPATION_UPSERT.execute_many(write, rows(one, when))
                write.execute(_participation_upsert(write.dialect.name), rows(two, when))
            table = PARTICIPATION_UPSERT._build(write.dialect.name).table
            found = write.execute(select(table).order_by("participant_id", "question_id"))
            got = [r._asdict() for r in found]
        return [r for r in got if r["participant_id"] == one], [
            r for r in got if r["participant_id"] == two
        ]

    by_driver, by_core = await store.run_batch(work)
    strip = [{k: v for k, v in r.items() if k != "participant_id"} for r in by_driver]
    assert strip == [{k: v for k, v in r.items() if k != "participant_id"} for r in by_core]
    assert [(r["actions"], r["first_day"], r["last_day"]) for r in by_driver] == [
        (2, day, later)
    ] * 2


async def test_a_driver_error_is_sqlalchemys_own(store: Store) -> None:
    def work(_read: Connection, write: Connection) -> None:
        with write.begin():
            INSERT_PERSON.scalar(write, person("twice"))
            INSERT_PERSON.scalar(write, person("twice"))

    with pytest.raises(StoreConflict) as raised:  # as the store answers it from Core
        await store.run_batch(work)
    assert isinstance(raised.value.__cause__, exc.IntegrityError)

    def count(_read: Connection, write: Connection) -> int:
        with write.begin():
            return len(PEOPLE_ON.rows(write, {"since": NOW - timedelta(days=1)}))

    assert await store.run_batch(count) == 0  # the transaction was undone


async def test_statements_it_cannot_run_as_given_are_refused(store: Store) -> None:
    in_list = DriverStatement(
        select(PARTICIPANTS).where(PARTICIPANTS.c.id.in_(bindparam("ids", expanding=True)))
    )

    def work(_read: Connection, write: Connection) -> None:
        with write.begin():
            with pytest.raises(ValueError, match="expanding"):
                in_list.rows(write, {"ids": [1]})
            since = select(PARTICIPANTS).where(PARTICIPANTS.c.created_at >= bindparam("since"))
            with pytest.raises(ValueError, match="since"):
                DriverStatement(since).rows(write, {})

    await store.run_batch(work)


def test_a_remembered_time_is_the_one_asked_for() -> None:
    calls: list[object] = []

    def process(value: object) -> str:
        calls.append(value)
        return f"<{value}>"

    run = _remembering(process)
    assert run(None) == "<None>"  # None is a value too (JSON binds it as 'null')
    calls.clear()
    first, second = NOW, NOW + timedelta(seconds=1)
    assert [run(first), run(first), run(second), run(first)] == [
        f"<{first}>",
        f"<{first}>",
        f"<{second}>",
        f"<{first}>",
    ]
    assert calls == [first, second, first]  # the same time twice in a row: formatted once
    assert run(date(2026, 12, 7)) == "<2026-12-07>"  # a date equal in value is not a time
    assert run(None) == "<None>" and run(3) == "<3>"
