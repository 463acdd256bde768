"""The request guard of `vidmine serve` alone (vidmine.web.guard, vidmine.web.auth): foreign
hosts, cross-origin writes, invalid input, security headers, the token's length and
on-site redirects. A tiny app stands behind the guard: no database, no pipeline."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from vidmine.web.auth import MIN_TOKEN_CHARS, TokenGuard, on_site, token_problem
from vidmine.web.guard import (
    ALLOWED_HOSTS_ENV,
    RequestGuard,
    allowed_host_names,
    host_name,
)

TOKEN = "a-token-long-enough-1234"
writes: list[str] = []


def _echo(request: Request) -> JSONResponse:
    return JSONResponse(dict(request.query_params))


async def _write(request: Request) -> JSONResponse:
    writes.append(request.url.path)
    return JSONResponse({"written": True}, status_code=201)


def _client(token: str | None = None, base_url: str = "http://127.0.0.1:8080") -> TestClient:
    middleware = [Middleware(RequestGuard, allowed_hosts=allowed_host_names("127.0.0.1"))]
    if token:
        middleware.append(Middleware(TokenGuard, token=token))
    app = Starlette(
        routes=[Route("/", _echo), Route("/api/uploads", _write, methods=["POST"])],
        middleware=middleware,
    )
    return TestClient(app, base_url=base_url, follow_redirects=False)


@pytest.fixture(autouse=True)
def _no_writes() -> None:
    writes.clear()


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080", "http://10.1.2.3"],
)
def test_ip_literals_and_localhost_are_answered(base_url: str) -> None:
    assert _client(base_url=base_url).get("/", params={"q": "x"}).json() == {"q": "x"}


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8080", "localhost.evil.example"])
def test_a_foreign_host_name_is_refused_naming_the_setting(host: str) -> None:
    answer = _client().get("/", headers={"host": host})
    assert answer.status_code == 400
    assert host_name(host) in answer.json()["error"]
    assert ALLOWED_HOSTS_ENV in answer.json()["error"]


def test_allowed_host_names_add_the_setting_and_this_machine_on_a_wildcard_bind() -> None:
    import socket

    assert allowed_host_names("127.0.0.1", ["Media.Example.org", " "]) == {
        "localhost",
        "127.0.0.1",
        "media.example.org",
    }
    assert socket.gethostname().lower() in allowed_host_names("0.0.0.0")
    assert socket.gethostname().lower() not in allowed_host_names("127.0.0.1")


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://evil.example"},
        {"origin": "http://127.0.0.1:9999"},  # another port is another origin
        {"origin": "https://127.0.0.1:8080"},  # another scheme too
        {"origin": "null"},  # a sandboxed frame or a file:// page
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},
    ],
)
def test_a_cross_origin_write_is_refused_before_it_happens(headers: dict[str, str]) -> None:
    answer = _client().post("/api/uploads", headers=headers, files={"file": ("x.mp4", b"x")})
    assert answer.status_code == 403
    assert "only this server's own pages may write" in answer.json()["error"]
    assert writes == []


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://127.0.0.1:8080"},
        {"origin": "http://127.0.0.1:8080", "sec-fetch-site": "same-origin"},
        {},  # curl, a script: no browser, the token judges
    ],
)
def test_a_write_from_this_server_or_a_non_browser_passes(headers: dict[str, str]) -> None:
    answer = _client().post("/api/uploads", headers=headers, files={"file": ("x.mp4", b"x")})
    assert answer.status_code == 201
    assert writes == ["/api/uploads"]


def test_a_cross_origin_read_is_answered_without_cors_headers() -> None:
    # Reading is harmless: without Access-Control-Allow-Origin the foreign page sees nothing.
    answer = _client().get("/", headers={"origin": "http://evil.example"})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/?q=%00", "'q' contains a control character"),
        ("/?q=a%00b&video=x", "'q' contains a control character"),
        ("/?video=%01", "'video' contains a control character"),
        ("/?q=%ff%fe", "not valid UTF-8"),
        ("/%00", "the address contains a control character"),
    ],
)
def test_nul_and_invalid_input_are_400_with_a_message(path: str, message: str) -> None:
    answer = _client().get(path)
    assert answer.status_code == 400
    assert message in answer.json()["error"]


def test_tabs_and_non_ascii_text_are_fine() -> None:
    assert _client().get("/", params={"q": "Marktplatz\tcafé ☕"}).json() == {
        "q": "Marktplatz\tcafé ☕"
    }


@pytest.mark.parametrize("path", ["/", "/nowhere", "/?q=%00"])
def test_every_answer_carries_the_security_headers(path: str) -> None:
    headers = _client(token=TOKEN).get(path).headers  # a 401 too
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    policy = headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy


def test_a_short_token_is_refused_with_how_to_make_one() -> None:
    assert token_problem("x" * MIN_TOKEN_CHARS) is None
    problem = token_problem("s3cret")
    assert problem is not None and "at least 16" in problem and "secrets" in problem
    with pytest.raises(ValueError, match="at least 16"):
        TokenGuard(_echo, token="x")


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("//evil.example/x", "/evil.example/x"),
        ("/\\evil.example", "/evil.example"),
        ("/library", "/library"),
    ],
)
def test_redirects_stay_on_this_site(path: str, target: str) -> None:
    assert on_site(path) == target


def test_the_token_redirect_of_a_protocol_relative_path_stays_here() -> None:
    answer = _client(token=TOKEN).get(f"http://127.0.0.1:8080//evil.example/x?token={TOKEN}&q=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/evil.example/x?q=1"


def _login_client() -> TestClient:
    def login_page(next_path: str, problem: str | None) -> str:
        return f"<form>next={next_path} problem={problem}</form>"

    middleware = [
        Middleware(RequestGuard, allowed_hosts=allowed_host_names("127.0.0.1")),
        Middleware(TokenGuard, token=TOKEN, login_page=login_page),
    ]
    app = Starlette(routes=[Route("/", _echo), Route("/api/x", _echo)], middleware=middleware)
    return TestClient(app, base_url="http://127.0.0.1:8080", follow_redirects=False)


def test_a_person_without_the_token_gets_a_login_form_a_program_json() -> None:
    client = _login_client()
    page = client.get("/?q=moon")
    assert page.status_code == 401 and page.text == "<form>next=/?q=moon problem=None</form>"
    api = client.get("/api/x")
    assert api.status_code == 401 and "access token is required" in api.json()["error"]


def test_the_login_form_signs_in_and_goes_back_to_the_page() -> None:
    client = _login_client()
    wrong = client.post("/login", data={"token": "nope", "next": "/?q=moon"})
    assert wrong.status_code == 401 and "not the one this server was given" in wrong.text
    right = client.post("/login", data={"token": TOKEN, "next": "//evil.example/x"})
    assert right.status_code == 303 and right.headers["location"] == "/evil.example/x"
    assert "httponly" in right.headers["set-cookie"].lower()
    assert client.get("/", cookies={"vidmine_token": TOKEN}).status_code == 200


def test_another_site_cannot_sign_a_browser_in() -> None:
    answer = _login_client().post(
        "/login", data={"token": TOKEN, "next": "/"}, headers={"origin": "http://evil.example"}
    )
    assert answer.status_code == 403
