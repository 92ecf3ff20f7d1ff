"""A unit of work: one transaction and the repositories that act inside it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from storage.bookkeeping import Audit, Checkpoints, FailedInbox, Outbox, ProcessedMessages
from storage.contributions import Contributions
from storage.participants import Participants
from storage.public_posts import PublicPosts
from storage.questions import Questions
from storage.reports import Reports
from storage.votes import Votes


class Unit:
    """Everything a handler may read or change, bound to one open transaction."""

    def __init__(self, session: AsyncSession, backend: str) -> None:
        self.session = session
        self.backend = backend
        self.questions = Questions(session)
        self.participants = Participants(session)
        self.contributions = Contributions(session)
        self.votes = Votes(session, backend)
        self.processed = ProcessedMessages(session, backend)
        self.failed = FailedInbox(session)
        self.checkpoints = Checkpoints(session, backend)
        self.outbox = Outbox(session)
        self.audit = Audit(session)
        self.reports = Reports(session)
        self.public_posts = PublicPosts(session, backend)
