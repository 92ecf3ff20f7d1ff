"""The sentiment-confidence migration (0009) on SQLite and PostgreSQL: down to 0008 takes
the column away and keeps the rows; up again brings it back, NULL for the rows stored
without it, and a contribution stored afterwards keeps its confidence."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import command
from sqlalchemy import inspect, select

from storage.database import Store
from storage.migrate import alembic_config, head_revision
from storage.models import Contribution
from storage.records import NewContribution

BEFORE = "0008"


async def _columns(store: Store) -> set[str]:
    async with store.engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: {c["name"] for c in inspect(sync).get_columns("contributions")}
        )


async def test_sentiment_confidence_goes_down_and_up_again(database_url: str) -> None:
    store = Store.connect(database_url)
    try:
        await store.upgrade()
        assert "sentiment_confidence" in await _columns(store)
        async with store.engine.begin() as connection:
            await connection.run_sync(lambda sync: command.downgrade(alembic_config(sync), BEFORE))
        assert "sentiment_confidence" not in await _columns(store)
        async with store.engine.begin() as connection:
            await connection.exec_driver_sql(
                "INSERT INTO participants (pseudonym, channel, answers, state, opted_out, "
                "unreachable, created_at, last_seen_at) VALUES ('p', 'console', '{}', '{}', "
                "false, false, '2026-12-01 00:00:00', '2026-12-01 00:00:00')"
            )
            await connection.exec_driver_sql(
                "INSERT INTO contributions (kind, idea_number, participant_id, text, label, "
                "redactions, status, channel, assisted, channel_message_id, agree_count, "
                "disagree_count, skip_count, vote_count, score, created_at) VALUES "
                "('idea', 1, 1, 'old', 'positive', '[]', 'visible', 'console', false, 'm1', "
                "0, 0, 0, 0, 0, '2026-12-01 00:00:00')"
            )
        await store.upgrade()
        async with store.engine.connect() as connection:
            revision = await connection.run_sync(
                lambda sync: sync.exec_driver_sql(
                    "SELECT version_num FROM alembic_version"
                ).scalar_one()
            )
        assert revision == head_revision()
        async with store.transaction() as unit:
            await unit.contributions.add(
                NewContribution(
                    kind="comment", participant_id=1, text="new", channel="console",
                    channel_message_id="m2", label="positive", sentiment_confidence=0.83,
                    created_at=datetime(2026, 12, 2, tzinfo=UTC),
                )
            )  # fmt: skip
        async with store.reader() as unit:
            rows = dict(
                (await unit.session.execute(
                    select(Contribution.text, Contribution.sentiment_confidence)
                )).all()
            )  # fmt: skip
        assert rows == {"old": None, "new": 0.83}
    finally:
        await store.close()
