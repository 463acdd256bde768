"""``Store``: the one object callers hold for vidmine's tables, made of one class per
table group, each in its own module beside its SQL:

- ``videos.py``: videos and refused uploads;
- ``stage_rows.py``: the stage rows of each video;
- ``derived.py``: transcript segments, scenes, keyframes, OCR texts, frame captions;
- ``search_index.py``: search items, their vector indexes and the search SQL;
- ``ledger.py``: provider calls and the response cache;
- ``content.py``: generated content.

The speakers tables (``speakers.py``) and the export queries (``export_tables.py``) are
functions over a ``Store``. The records the methods return are in ``models.py``.
"""

from __future__ import annotations

from vidmine.db.content import ContentTables
from vidmine.db.derived import DerivedRows
from vidmine.db.ledger import Ledger
from vidmine.db.search_index import SearchIndex
from vidmine.db.stage_rows import StageRows
from vidmine.db.videos import VideoTables

__all__ = ["Store"]


class Store(VideoTables, StageRows, DerivedRows, SearchIndex, Ledger, ContentTables):
    """vidmine's database, by URL (see ``vidmine.db.connection.database_url``)."""
