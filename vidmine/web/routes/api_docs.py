"""The API's contract as ``/openapi.json`` and as the ``/api/docs`` page
(vidmine.web.openapi builds the document once per app)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from vidmine.web.pages import render
from vidmine.web.params import page_route
from vidmine.web.state import web_state


def openapi(request: Request) -> Response:
    return JSONResponse(web_state(request).api_document)


def api_docs(request: Request) -> Response:
    return render(request, "api_docs.html", page="api", api=web_state(request).api_document)


routes = [
    page_route("/api/docs", api_docs),
    page_route("/openapi.json", openapi),
]
