"""A unit of work: one transaction and the repositories that act inside it."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from storage.bookkeeping import Audit, Checkpoints, FailedInbox, Outbox, ProcessedMessages
from storage.contributions import Contributions
from storage.grouping import Grouping
from storage.insights import Insights
from storage.jobs import Jobs
from storage.moderation import Moderation
from storage.participants import Participants
from storage.public_posts import PublicPosts
from storage.questions import Questions
from storage.rankings import Rankings
from storage.similar import Similar
from storage.tallies import Tallies
from storage.themes import Themes
from storage.votes import Votes


class Unit:
    """Everything a handler may read or change, bound to one open transaction."""

    def __init__(
        self, session: AsyncSession, backend: str, grouping: Grouping | None = None
    ) -> None:
        self.session = session
        self.backend = backend
        self.tallies = Tallies(session, backend, grouping or Grouping())
        self.questions = Questions(session)
        self.participants = Participants(session, self.tallies)
        self.contributions = Contributions(session, self.tallies)
        self.votes = Votes(session, backend, self.tallies)
        self.processed = ProcessedMessages(session, backend)
        self.failed = FailedInbox(session)
        self.checkpoints = Checkpoints(session, backend)
        self.outbox = Outbox(session)
        self.audit = Audit(session)
        self.public_posts = PublicPosts(session, backend)
        self.insights = Insights(session, backend, self.tallies.grouping)
        self.moderation = Moderation(session, self.tallies)
        self.rankings = Rankings(session)
        self.themes = Themes(session, backend)
        self.similar = Similar(session, backend)
        self.jobs = Jobs(session)
