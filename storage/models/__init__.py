"""SQLAlchemy table definitions: the one shared store every channel writes to, one module
per area. Importing this package registers every table on `Base.metadata`.

The schema itself is owned by the Alembic migrations in storage/migrations; these classes
must match them (a test compares the two).
"""

from storage.models.core import *  # noqa: F403
from storage.models.core import Base, BigId, UTCDateTime  # noqa: F401
from storage.models.insights import *  # noqa: F403
from storage.models.public_posts import *  # noqa: F403
