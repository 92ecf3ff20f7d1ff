"""Errors the store raises, in the project's own terms rather than the driver's."""


class StoreError(Exception):
    """Base class for store failures."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or cannot commit right now; try again later."""


class SchemaOutdated(StoreError):
    """The database schema is older than this version of Chorus."""


class DuplicateMessage(StoreError):
    """This inbound message id was already applied (possibly by another worker)."""


class StoreConflict(StoreError):
    """Another transaction wrote the same unique row first; retrying will see it."""


class StoreConfigError(StoreError):
    """The database URL is not one Chorus can use."""
