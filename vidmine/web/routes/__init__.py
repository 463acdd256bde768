"""The routes of `vidmine serve`, one module per part of the site. Each module's
``routes`` are plain Starlette routes whose handlers read what they need from
``request.app.state`` (vidmine.web.state) and raise vidmine.web.errors.WebError; an API
route takes the query parameters its vidmine.web.openapi.ENDPOINTS entry documents."""

from __future__ import annotations

from starlette.routing import BaseRoute

from vidmine.web.routes import api_docs, ask, library, media, operations, search, uploads, videos

ROUTES: list[BaseRoute] = [
    *search.routes,
    *ask.routes,
    *library.routes,
    *videos.routes,
    *media.routes,
    *uploads.routes,
    *operations.routes,
    *api_docs.routes,
]
