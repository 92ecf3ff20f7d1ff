"""Errors the store raises, in the project's own terms rather than the driver's."""


class StoreError(Exception):
    """Base class for store failures."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or cannot commit right now; try again later."""


class StatementTimeout(StoreUnavailable):
    """A statement ran past `store.statement_seconds` and was stopped (SQLite; see
    storage/statement_budget.py). Nothing of its transaction was kept."""


class SchemaOutdated(StoreError):
    """The database schema is older than this version of Chorus."""


class DuplicateMessage(StoreError):
    """This inbound message id was already applied (possibly by another worker)."""


class StoreConflict(StoreError):
    """The transaction lost a race and was rolled back: another one wrote the same unique
    row first, or the database broke a deadlock; retrying will succeed."""

    def __init__(self, message: str, kind: str = "unique row") -> None:
        super().__init__(message)
        self.kind = kind  # "unique row" or "deadlock", for logs that must not quote values


class StoreConfigError(StoreError):
    """The database URL is not one Chorus can use."""
