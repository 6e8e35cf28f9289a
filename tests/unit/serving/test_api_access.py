"""Who may call the API: token lists read without ever showing a token, constant-time matching,
401 without a token and 403 with a wrong one or with writes off, 413 for a large body, CORS
only for configured origins (a small FastAPI app with the API's guards, in process)."""

from __future__ import annotations

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from gameline.flows.api.access import Access, guard
from gameline.tasks.config import ApiConfig
from gameline.tasks.serving.tokens import Tokens

ALICE = "alice-token-0123456789"
BOT = "bot-token-abcdefghijklmn"


def test_tokens_are_read_by_name_and_matched_exactly() -> None:
    tokens = Tokens.parse(f" alice:{ALICE} , bot:{BOT},", "GAMELINE_API_TOKENS")
    assert tokens.names() == ["alice", "bot"]
    assert tokens.who(ALICE) == "alice" and tokens.who(BOT) == "bot"
    assert tokens.who(ALICE[:-1]) is None and tokens.who(ALICE + "x") is None
    assert tokens.who("") is None and tokens.who(None) is None
    assert ALICE not in repr(tokens) and not Tokens.parse(None, "X") and not Tokens.parse("", "X")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"alice{ALICE}", "GAMELINE_API_TOKENS: pair 1 is not `name:token`"),
        (f"alice:{ALICE},:{BOT}", "GAMELINE_API_TOKENS: pair 2 is not `name:token`"),
        ("alice:short-secret", "the token of 'alice' is shorter than 16 characters"),
        (f"alice:{ALICE},alice:{BOT}", "'alice' is named twice"),
    ],
)
def test_a_bad_token_list_names_where_and_which_pair_never_a_token(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        Tokens.parse(text, "GAMELINE_API_TOKENS")
    assert ALICE not in str(error.value) and "short-secret" not in str(error.value)
    assert BOT not in str(error.value)


def app_of(tokens: Tokens, api: ApiConfig) -> TestClient:
    access = Access(tokens, api)
    app = FastAPI()
    guard(app, api)

    @app.post("/write")
    def write(body: dict[str, str], who: str = Depends(access.writer)) -> dict[str, str]:
        return {"who": who, **body}

    @app.get("/read")
    def read(who: str | None = Depends(access.reader)) -> dict[str, str | None]:
        return {"who": who}

    return TestClient(app)


def test_writes_need_a_known_token_and_are_off_without_tokens() -> None:
    client = app_of(Tokens.parse(f"alice:{ALICE}", "X"), ApiConfig())
    missing = client.post("/write", json={})
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    wrong = client.post("/write", json={}, headers={"Authorization": f"Bearer {BOT}"})
    assert wrong.status_code == 403 and "not one of this API's tokens" in wrong.text
    basic = client.post("/write", json={}, headers={"Authorization": f"Basic {ALICE}"})
    assert basic.status_code == 401
    ok = client.post("/write", json={"a": "b"}, headers={"Authorization": f"Bearer {ALICE}"})
    assert ok.json() == {"who": "alice", "a": "b"}
    assert client.get("/read").json() == {"who": None}  # reads open by default

    off = app_of(Tokens({}), ApiConfig()).post(
        "/write", json={}, headers={"Authorization": f"Bearer {ALICE}"}
    )
    assert off.status_code == 403 and "set GAMELINE_API_TOKENS" in off.text


def test_reads_behind_a_token_by_config() -> None:
    client = app_of(Tokens.parse(f"alice:{ALICE}", "X"), ApiConfig(protect_reads=True))
    assert client.get("/read").status_code == 401
    assert client.get("/read", headers={"Authorization": f"Bearer {ALICE}"}).json() == {
        "who": "alice"
    }
    with pytest.raises(ValueError, match=r"api\.protect_reads needs tokens"):
        Access(Tokens({}), ApiConfig(protect_reads=True))


def test_a_body_over_the_limit_is_413_declared_or_streamed() -> None:
    client = app_of(Tokens.parse(f"alice:{ALICE}", "X"), ApiConfig(max_request_bytes=1_000))
    auth = {"Authorization": f"Bearer {ALICE}"}
    small = client.post("/write", json={"a": "b" * 900}, headers=auth)
    assert small.status_code == 200
    large = client.post("/write", json={"a": "b" * 2_000}, headers=auth)
    assert large.status_code == 413 and "larger than 1000 bytes" in large.json()["detail"]

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(5):
            yield b'{"a": "' + b"b" * 300 + b'"}'

    streamed = client.post("/write", content=chunks(), headers={**auth, "content-type": "json"})
    assert streamed.status_code == 413


def test_cors_only_for_configured_origins() -> None:
    preflight = {
        "Origin": "https://dash.example",
        "Access-Control-Request-Method": "GET",
    }
    closed = app_of(Tokens({}), ApiConfig()).options("/read", headers=preflight)
    assert "access-control-allow-origin" not in closed.headers
    opened = app_of(Tokens({}), ApiConfig(cors_origins=["https://dash.example"]))
    answer = opened.options("/read", headers=preflight)
    assert answer.headers["access-control-allow-origin"] == "https://dash.example"
    other = opened.options("/read", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_a_token_list_with_gaps_colons_and_the_shortest_token() -> None:
    exact = "x" * 16  # the shortest token accepted
    tokens = Tokens.parse(f"alice:{exact},, bot:{BOT}:with:colons ,", "X")
    assert tokens.names() == ["alice", "bot"]  # an empty pair is skipped, not the end
    assert tokens.who(exact) == "alice" and tokens.who(f"{BOT}:with:colons") == "bot"
