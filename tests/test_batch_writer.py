"""The grouped-commit writer: messages that arrive together are applied in one
transaction, committed once, and answered only after the commit; a savepoint each only
when one of them fails (the batch is then applied again, so that it fails alone)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import event, exc, func, select

import storage.batch_apply
import storage.person_updates
from handlers.engine import Engine
from handlers.privacy import ContactCipher, Pseudonymizer
from handlers.warming import Warming
from storage.database import Store
from storage.errors import StoreUnavailable
from storage.models import Contribution, Participant, ProcessedMessage
from tests.conftest import REPO, TEST_SECRET
from tests.people import DISTINCT_IDEAS, Person


async def count(store: Store, model) -> int:
    async with store.reader() as unit:
        return await unit.session.scalar(select(func.count()).select_from(model)) or 0


def savepoints(store: Store) -> list[str]:
    """The SAVEPOINT statements the store's connections run from now on."""
    return statements(store, lambda statement: statement.lstrip().upper().startswith("SAVEPOINT"))


def statements(store: Store, wanted: Callable[[str], bool]) -> list[str]:
    """The statements the store's connections run from now on that `wanted` accepts."""
    seen: list[str] = []

    def note(_conn, _cursor, statement: str, *_args) -> None:
        if wanted(statement):
            seen.append(statement)

    for sync_engine in store.sync_engines():
        event.listen(sync_engine, "before_cursor_execute", note)
    return seen


async def statements_of_one_batch(
    engine: Engine, store: Store, wanted: Callable[[str], bool]
) -> list[str]:
    """The statements `wanted` accepts while twelve people who have started consent, all
    at once (one batch)."""
    people = [Person(engine, f"consenting-{n}") for n in range(12)]
    await asyncio.gather(*(p.say("START") for p in people))
    sizes = batches(engine)
    seen = statements(store, wanted)
    await asyncio.gather(*(p.say("YES") for p in people))
    assert sizes == [12]
    return seen


def batches(engine: Engine) -> list[int]:
    sizes: list[int] = []
    engine.on_batch.append(sizes.append)
    return sizes


async def test_messages_waiting_together_are_applied_in_one_batch(
    engine: Engine, store: Store
) -> None:
    sizes = batches(engine)
    people = [Person(engine, f"crowd-{n}") for n in range(20)]
    replies = await asyncio.gather(*(p.say("START") for p in people))
    assert all([r.key for r in reply] == ["welcome"] for reply in replies)
    assert sizes == [20]  # one transaction, one commit
    assert await count(store, ProcessedMessage) == 20
    assert await count(store, Participant) == 0  # no row before consent (issue 16)
    used = savepoints(store)
    await asyncio.gather(*(p.say("YES") for p in people))
    assert sizes == [20, 20]
    assert await count(store, Participant) == 20
    assert used == []  # nothing failed: no savepoint per message


async def test_a_batch_reads_its_people_in_one_statement(engine: Engine, store: Store) -> None:
    """Not one read of the participants' table per message: one for the batch (PostgreSQL:
    one as committed, to decide, and one under the batch's locks, to check)."""
    reads = await statements_of_one_batch(
        engine, store, lambda statement: "FROM participants \nWHERE" in statement
    )
    one_each = [r for r in reads if "participants.pseudonym = " in r and "ANY" not in r]
    assert one_each == []
    assert len(reads) == (2 if store.backend == "postgresql" else 1)


async def test_a_batch_writes_its_peoples_changes_in_one_statement(
    engine: Engine, store: Store
) -> None:
    """The participants' UPDATEs are held and written together, one executemany per set
    of columns changed (on PostgreSQL each statement is a round trip); a person's second
    message in the batch still reads what their first changed."""
    people = [Person(engine, f"answering-{n}") for n in range(12)]
    await asyncio.gather(*(p.say("START") for p in people))
    await asyncio.gather(*(p.say("YES") for p in people))
    sizes = batches(engine)
    updates = statements(store, lambda s: s.lstrip().upper().startswith("UPDATE PARTICIPANTS"))
    twice = people[0]
    replies = await asyncio.gather(*(p.send("SKIP") for p in [*people, twice]))
    assert sizes == [13]
    # The twelve first answers in one statement; the second SKIP of `twice` reads their
    # row after it is written, and its own change is written with the batch's last.
    assert len(updates) == 2, updates
    assert [r.key for r in replies[0].replies] == ["gateway:region"]
    assert [r.key for r in replies[-1].replies] == ["gateway:age_band"]
    async with store.reader() as unit:
        rows = {p.pseudonym: p for p in await unit.session.scalars(select(Participant))}
    assert rows[twice.pseudonym].answers == {"role": None, "region": None}
    assert rows[twice.pseudonym].state == {"step": "gateway", "question": "age_band"}
    for person in people[1:]:
        assert rows[person.pseudonym].answers == {"role": None}


async def test_held_changes_that_fail_to_be_written_lose_nothing(
    engine: Engine, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing the held UPDATEs fails (when a person's second message needs their row):
    the batch is undone and applied again, each message in its savepoint, each UPDATE
    written at once; no one's change is lost."""
    people = [Person(engine, f"held-{n}") for n in range(4)]
    await asyncio.gather(*(p.say("START") for p in people))
    await asyncio.gather(*(p.say("YES") for p in people))
    real = storage.person_updates.person_update
    failures: list[int] = []

    class Failing:
        def __init__(self, statement) -> None:
            self.statement = statement

        def execute(self, on, params):
            return self.statement.execute(on, params)

        def execute_many(self, on, rows):
            failures.append(len(rows))
            raise exc.DataError("UPDATE", {}, Exception("a value the column refuses"))

    monkeypatch.setattr(
        storage.person_updates, "person_update", lambda columns: Failing(real(columns))
    )
    sizes = batches(engine)
    used = savepoints(store)
    twice = people[0]
    replies = await asyncio.gather(*(p.send("SKIP") for p in [*people, twice]))
    assert sizes == [5] and failures and len(used) == 5  # applied again, a savepoint each
    assert [r.key for r in replies[-1].replies] == ["gateway:age_band"]
    async with store.reader() as unit:
        rows = {p.pseudonym: p for p in await unit.session.scalars(select(Participant))}
    assert rows[twice.pseudonym].answers == {"role": None, "region": None}
    for person in people[1:]:
        assert rows[person.pseudonym].answers == {"role": None}


async def test_one_persons_messages_in_one_batch_keep_their_order(
    engine: Engine, store: Store
) -> None:
    sizes = batches(engine)
    ann = Person(engine, "ann")
    first, second, third = await asyncio.gather(
        ann.send("START"), ann.send("yes"), ann.send("skip")
    )
    assert sizes == [3]
    assert [r.key for r in first.replies] == ["welcome"]
    assert [r.key for r in second.replies] == ["gateway:role"]
    assert [r.key for r in third.replies][-1].startswith("gateway:")
    assert await count(store, Participant) == 1


async def test_a_failing_message_fails_alone(
    engine: Engine, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    author, poisoned, good = (Person(engine, name) for name in ("author", "poisoned", "good"))
    for person in (author, poisoned, good):
        await person.join()
    await author.say("Physiotherapists in every A&E")
    async with store.reader() as unit:
        idea = await unit.session.scalar(select(Contribution.id))
        poisoned_id = (await unit.participants.find(poisoned.pseudonym)).id
    real = storage.batch_apply._cast_vote

    def cast(write, person_id, vote, tallies):
        if person_id == poisoned_id:
            raise ValueError("this vote cannot be stored")
        return real(write, person_id, vote, tallies)

    monkeypatch.setattr(storage.batch_apply, "_cast_vote", cast)
    sizes = batches(engine)
    used = savepoints(store)
    newcomer = Person(engine, "newcomer")
    results = await asyncio.gather(
        poisoned.send(payload=f"vote:{idea}:agree", message_id="poison-1"),
        good.send(payload=f"vote:{idea}:agree"),
        newcomer.send("START"),
        return_exceptions=True,
    )
    assert sizes == [3]
    assert len(used) == 3  # undone, then applied again with a savepoint each
    assert isinstance(results[0], ValueError)
    assert [r.key for r in results[1].replies] == ["vote_done", "menu"]
    assert [r.key for r in results[2].replies] == ["welcome"]
    async with store.reader() as unit:
        tallied = await unit.contributions.get(idea)
        claimed = await unit.processed.seen("console", "poison-1")
    assert tallied.agree_count == 1 and not claimed
    # Its savepoint was rolled back: the same message is applied when sent again.
    monkeypatch.setattr(storage.batch_apply, "_cast_vote", real)
    again = await poisoned.send(payload=f"vote:{idea}:agree", message_id="poison-1")
    assert not again.duplicate and [r.key for r in again.replies] == ["vote_done", "menu"]
    async with store.reader() as unit:
        assert (await unit.contributions.get(idea)).agree_count == 2


async def test_a_batch_whose_commit_fails_acknowledges_nothing(
    engine: Engine, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken_flush(self) -> None:
        raise exc.OperationalError("COMMIT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(storage.batch_apply.BatchTallies, "flush", broken_flush)
    people = [Person(engine, f"unlucky-{n}") for n in range(5)]
    results = await asyncio.gather(*(p.send("START") for p in people), return_exceptions=True)
    assert all(isinstance(result, StoreUnavailable) for result in results)
    assert await count(store, ProcessedMessage) == 0
    assert await count(store, Participant) == 0


async def test_the_number_of_a_new_idea_is_in_its_reply(engine: Engine, store: Store) -> None:
    people = [Person(engine, f"author-{n}") for n in range(4)]
    for person in people:
        await person.join()
    # Unlike one another, so none is offered as "like" another.
    outcomes = await asyncio.gather(*(p.send(DISTINCT_IDEAS[n]) for n, p in
                                      enumerate(people)))  # fmt: skip
    async with store.reader() as unit:
        rows = await unit.session.execute(select(Contribution.text, Contribution.id))
        ids = dict(rows.all())
    for n, outcome in enumerate(outcomes):
        assert f"{ids[DISTINCT_IDEAS[n]]}" in outcome.replies[0].text
        assert "\u2063" not in outcome.replies[0].text


KILLED_BEFORE_COMMIT = textwrap.dedent(
    """
    import asyncio, os, random, signal, sys

    import storage.batch_apply
    from handlers.engine import Engine
    from handlers.enrich import Enricher
    from handlers.privacy import ContactCipher, Pseudonymizer
    from handlers.types import Inbound
    from storage.database import Store
    from tests.conftest import TEST_SECRET, FakeClock, make_settings

    async def die(self):
        print("applied, not committed", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    storage.batch_apply.BatchTallies.flush = die

    async def main(url):
        store = Store.connect(url)
        settings = make_settings(url).consultation
        engine = Engine(
            store, settings,
            enricher=Enricher(settings.consultation.languages, settings.sentiment),
            pseudonyms=Pseudonymizer(TEST_SECRET), contacts=ContactCipher(TEST_SECRET),
            clock=FakeClock(), rng=random.Random(1),
        )
        await engine.prepare()

        async def send(n):
            inbound = Inbound("console", f"doomed-{n}", f"doomed-{n}", engine.clock(), "START")
            await engine.handle(inbound)
            print("ACK", n, flush=True)

        await asyncio.gather(*(send(n) for n in range(8)))

    asyncio.run(main(sys.argv[1]))
    """
)


async def test_a_batch_killed_before_commit_leaves_no_message_acknowledged(
    engine: Engine, store: Store, database_url: str, tmp_path: Path
) -> None:
    script = tmp_path / "killed.py"
    script.write_text(KILLED_BEFORE_COMMIT)
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(script), database_url,
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == -signal.SIGKILL, stderr.decode()
    assert "applied, not committed" in stdout.decode()
    assert "ACK" not in stdout.decode()  # no webhook would have answered 200
    assert await count(store, ProcessedMessage) == 0
    assert await count(store, Participant) == 0
    # Nothing half-applied: the provider's retries are applied in full.
    for n in range(8):
        inbound_person = Person(engine, f"doomed-{n}")
        outcome = await inbound_person.send("START", message_id=f"doomed-{n}")
        assert not outcome.duplicate and outcome.replies[0].key == "welcome"
    assert await count(store, ProcessedMessage) == 8


async def test_messages_that_need_the_models_wait_for_them_and_others_go_on(
    store: Store, settings, enricher, clock
) -> None:
    warming = Warming()
    engine = Engine(
        store,
        settings.consultation,
        enricher=enricher,
        pseudonyms=Pseudonymizer(TEST_SECRET),
        contacts=ContactCipher(TEST_SECRET),
        clock=clock,
        warming=warming,
    )
    await engine.prepare()
    author, other = Person(engine, "author"), Person(engine, "other")
    await author.join()  # answers need no models
    idea = asyncio.create_task(author.say("Physiotherapists in every A&E please"))
    assert [r.key for r in await other.say("START")] == ["welcome"]
    assert not idea.done() and warming.warming == ["language", "sentiment", "moderation"]
    await warming.run(lambda: None)  # the models are ready
    assert (await idea)[0].key == "idea_saved" and warming.warming == []
    assert await count(store, Contribution) == 1


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_batch_on_a_connection_that_had_gone_is_run_again(
    engine: Engine, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL: the batch writer's pooled connections are not pinged at checkout (a
    round trip twice a batch). When the server has dropped them (a restart), the batch
    that finds out is run again at once on fresh connections: answered, stored once."""
    ann = Person(engine, "ann-restart")
    assert [r.key for r in await ann.say("START")] == ["welcome"]
    (pids,) = await store.run_batch(
        lambda read, write: [
            [read.exec_driver_sql("SELECT pg_backend_pid()").scalar(),
             write.exec_driver_sql("SELECT pg_backend_pid()").scalar()]
        ]
    )  # fmt: skip
    async with store.engine.connect() as admin:
        for pid in pids:
            await admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})")
    claims = statements(store, lambda s: "INSERT INTO processed_messages" in s)
    with caplog.at_level("INFO", logger="storage.database"):
        replies = await ann.say("YES")
    assert replies and replies[0].key != "store_unavailable"
    assert "the batch is run again" in caplog.text
    assert len(claims) == 1  # the first try failed before its claim; the second made it
    assert await count(store, Participant) == 1
    assert await count(store, ProcessedMessage) == 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_sqlite_writer_keeps_its_connection_between_batches(store: Store) -> None:
    """No checkout from the pool per batch: the writer's thread keeps one connection,
    and after a batch that failed it opens a fresh one and carries on."""

    def connection(_read, write):
        with write.begin():
            write.exec_driver_sql("SELECT 1")
        return write

    first = await store.run_batch(connection)
    assert await store.run_batch(connection) is first

    def failing(_read, write) -> None:
        with write.begin():
            write.exec_driver_sql("SELECT * FROM no_such_table")

    with pytest.raises(StoreUnavailable):
        await store.run_batch(failing)
    assert first.closed
    assert await store.run_batch(connection) is not first  # a new one, working


async def test_a_batchs_message_ids_are_claimed_together_on_postgresql(
    engine: Engine, store: Store
) -> None:
    """PostgreSQL claims every id of a batch in one statement (a round trip saved for each
    other message); SQLite, where a statement is no round trip, one each."""
    claims = await statements_of_one_batch(
        engine, store, lambda s: "INSERT INTO processed_messages" in s
    )
    assert len(claims) == (1 if store.backend == "postgresql" else 12)
    assert await count(store, ProcessedMessage) == 24


async def test_a_resent_copy_in_the_same_batch_is_applied_once(
    engine: Engine, store: Store
) -> None:
    """Two copies of one message in one batch (a provider resending at once): the first
    is applied, the second answered as a duplicate; and a copy of a message applied in an
    earlier batch is a duplicate too."""
    ann, ben = Person(engine, "ann-twice"), Person(engine, "ben-twice")
    for person in (ann, ben):
        await person.join()
    sizes = batches(engine)
    first, second, other = await asyncio.gather(
        ann.send("idea Hydrotherapy pools in every trust", message_id="twice-1"),
        ann.send("idea Hydrotherapy pools in every trust", message_id="twice-1"),
        ben.send("idea Evening physio clinics", message_id="once-1"),
    )
    assert sizes == [3]
    assert not first.duplicate and second.duplicate and not other.duplicate
    assert await count(store, Contribution) == 2
    again = await ben.send("idea Evening physio clinics", message_id="once-1")
    assert again.duplicate
    assert await count(store, Contribution) == 2


async def test_a_message_decided_again_into_leaving_no_trace_is_not_claimed(
    engine: Engine, store: Store
) -> None:
    """STOP then another message in one batch: the second, decided (on PostgreSQL before
    the transaction, and claimed early) as from someone taking part, is decided again as
    from someone who opted out, which stores nothing, not even its id."""
    phone = Person(engine, "+447700900789", channel="sms")
    await phone.join()
    sizes = batches(engine)
    stop, after = await asyncio.gather(
        phone.send("STOP"), phone.send("idea This should go nowhere", message_id="after-stop")
    )
    assert sizes == [2]
    assert stop.opted_out and after.opted_out and after.replies == ()
    async with store.reader() as unit:
        assert not await unit.processed.seen("sms", "after-stop")
    assert await count(store, Contribution) == 0
