"""`vidmine serve`: a search page and an HTTP API over vidmine's database and media.

A Starlette app (``create_app``) that reads through ``Store`` and serves files only from
``VIDMINE_HOME/media`` by ids the database knows. It imports nothing from Dagster or the
pipeline packages: what it needs from them (the embedder, the Dagster run queue) is
handed in by the CLI.
"""

from vidmine.web.app import WebSettings, create_app

__all__ = ["WebSettings", "create_app"]
