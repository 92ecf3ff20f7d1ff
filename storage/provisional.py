"""A part of a transaction that may be taken back: a savepoint the engine keeps or
discards once it knows whether what was written should stay.

The engine runs a first message from someone it does not know as for anyone else, with a
participant row, so every flow works unchanged; if that person has neither agreed nor
refused by the end (a START, a HELP, a MYDATA after FORGET), the savepoint is discarded
and nothing about them is stored.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction


class Provisional:
    def __init__(self, savepoint: AsyncSessionTransaction) -> None:
        self._savepoint = savepoint

    @classmethod
    async def begin(cls, session: AsyncSession) -> Provisional:
        return cls(await session.begin_nested())

    async def keep(self) -> None:
        if self._savepoint.is_active:
            await self._savepoint.commit()

    async def discard(self) -> None:
        if self._savepoint.is_active:
            await self._savepoint.rollback()
