"""The HTML side of `vidmine serve`: the page templates with their filters, rendering a
page, the login form, and the app's handlers of errors (a page for people, JSON for
programs).

Every file name, transcript, OCR text and LLM answer reaches a page escaped: the templates
autoescape, and the filters that add markup escape what they wrap.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup, escape
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from vidmine.transcript import clock
from vidmine.web import payloads
from vidmine.web.auth import LoginPage
from vidmine.web.errors import WebError, error_response, for_programs
from vidmine.web.markdown import markdown_html
from vidmine.web.state import web_state

log = logging.getLogger(__name__)

PACKAGE_DIR = Path(__file__).parent
ERROR_TITLES = {
    400: "That request cannot be answered",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    500: "Something went wrong on the server",
}


def _wrap_marked(text: str, marker: str, tag: str) -> Markup:
    """``text`` escaped, with each span between a pair of ``marker`` in <``tag``>; an
    unpaired marker leaves the text as it is."""
    parts = text.split(marker)
    if len(parts) % 2 == 0:
        return escape(text)
    element = Markup(f"<{tag}>{{}}</{tag}>")
    return Markup("").join(
        element.format(part) if i % 2 else escape(part) for i, part in enumerate(parts)
    )


def cite_links(answer: str, citations: Iterable[dict[str, Any]]) -> Markup:
    """An answer as HTML: escaped, each [n] a link that plays its cited moment."""
    links = {int(c["n"]): c for c in citations}
    out = Markup("")
    for i, part in enumerate(re.split(r"\[(\d{1,2})\]", answer)):
        if i % 2 == 0:
            out += escape(part)
        elif int(part) in links:
            c = links[int(part)]
            out += Markup('<a class="cite" href="{}" title="{} at {}">[{}]</a>').format(
                c["page_url"], c["file_name"], clock(c["start_s"]), part
            )
        else:
            out += escape(f"[{part}]")
    return out


def highlight(snippet: str) -> Markup:
    """The snippet as HTML: escaped, with the words search matched (``**word**``) in <mark>."""
    return _wrap_marked(snippet, "**", "mark")


def code_spans(text: str) -> Markup:
    """``text`` escaped, with `backquoted` commands shown as code."""
    return _wrap_marked(text, "`", "code")


def sentence(text: str) -> str:
    """``text`` with its first letter upper case (``capitalize`` lowers the rest)."""
    return text[:1].upper() + text[1:]


def file_size(size_bytes: float) -> str:
    if size_bytes < 1_000_000:
        return f"{size_bytes / 1000:.0f} kB"
    return f"{size_bytes / 1_000_000:.1f} MB"


def age(seconds: float) -> str:
    """A duration for people: "8 s", "3 min", "2 h 5 min", "3 days"."""
    if seconds < 60:
        return f"{max(seconds, 0):.0f} s"
    if seconds < 3600:
        return f"{seconds // 60:.0f} min"
    if seconds < 86400:
        hours, rest = divmod(seconds, 3600)
        return f"{hours:.0f} h {rest // 60:.0f} min"
    return f"{seconds // 86400:.0f} days"


def page_templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PACKAGE_DIR / "templates"),
        autoescape=True,  # every file name, transcript, OCR text and LLM answer is escaped
        undefined=jinja2.StrictUndefined,
    )
    env.filters["clock"] = clock
    env.filters["age"] = age
    env.filters["code_spans"] = code_spans
    env.filters["sentence"] = sentence
    env.filters["file_size"] = file_size
    env.filters["markdown"] = markdown_html
    env.filters["highlight"] = highlight
    env.filters["speaker_colour"] = payloads.speaker_colour
    env.filters["cite_links"] = cite_links
    env.filters["kind_label"] = lambda kind: payloads.KIND_LABELS.get(kind, kind)
    env.filters["when"] = lambda dt: dt.strftime("%Y-%m-%d %H:%M") if dt else ""
    return env


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The template ``name`` filled with ``context``, as an HTML answer."""
    page = web_state(request).templates.get_template(name).render(**context)
    return HTMLResponse(page, status_code=status_code)


def login_form(templates: jinja2.Environment) -> LoginPage:
    """The form vidmine.web.auth.TokenGuard shows a person who has no token yet."""

    def login_page(next_path: str, problem: str | None) -> str:
        return templates.get_template("login.html").render(
            page="login", next_path=next_path, problem=problem
        )

    return login_page


def error_answer(request: Request, status: int, message: str) -> Response:
    # People get a page they can read and leave; programs (/api, media, operations)
    # keep the JSON shape.
    if for_programs(request.url.path):
        return error_response(status, message)
    return render(
        request,
        "error.html",
        status,
        page="error",
        status=status,
        message=message,
        title=ERROR_TITLES.get(status),
    )


async def on_http_error(request: Request, exc: Exception) -> Response:
    """The one handler of a ``WebError`` a handler raised and of the router's 404 and 405."""
    assert isinstance(exc, HTTPException)
    if isinstance(exc, WebError):
        message = exc.message
    else:
        message = {404: f"no such page: {request.url.path}", 405: "method not allowed"}.get(
            exc.status_code, str(exc.detail)
        )
    answer = error_answer(request, exc.status_code, message)
    answer.headers.update(exc.headers or {})  # e.g. Allow on a 405
    return answer


async def on_unexpected(request: Request, exc: Exception) -> Response:
    """A bug: the traceback goes to the server log, never to the client."""
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return error_answer(
        request, 500, f"internal error ({type(exc).__name__}); the server log has the details"
    )
