"""vidmine's PostgreSQL storage: where the database is, its schema migrations, and the
``Store`` that reads and writes the tables (one module per table group, see ``store.py``),
and the records it returns (``models.py``).

Typical use::

    url = database_url(VidmineHome.from_env())  # DATABASE_URL or the embedded server
    migrate(url)
    store = Store(url)
"""

from vidmine.db.connection import connect, database_url, stop_embedded
from vidmine.db.migrate import migrate
from vidmine.db.models import (
    ContentRecord,
    RejectionRecord,
    SearchItem,
    StageState,
    VideoNotFoundError,
    VideoRecord,
)
from vidmine.db.store import Store

__all__ = [
    "ContentRecord",
    "RejectionRecord",
    "SearchItem",
    "StageState",
    "Store",
    "VideoNotFoundError",
    "VideoRecord",
    "connect",
    "database_url",
    "migrate",
    "stop_embedded",
]
