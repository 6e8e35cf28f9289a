"""Who may call the API and what a request may carry: bearer tokens (write endpoints always,
reads when the config says), a limit on the body's size, CORS only for configured origins."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gameline.tasks.config import ApiConfig
from gameline.tasks.serving.tokens import Tokens


def load_tokens(api: ApiConfig) -> Tokens:
    """The tokens from the environment variable the config names, else from its Prefect
    Secret block; none configured: empty (the write endpoints are off)."""
    text, where = api.tokens_from_environment(), api.tokens_env
    if text is None and api.tokens_secret_block:
        from prefect.blocks.system import Secret

        where = f"the Prefect Secret block {api.tokens_secret_block!r}"
        text = str(Secret.load(api.tokens_secret_block).get())
    return Tokens.parse(text, where)


# The bearer scheme, declared in the OpenAPI schema (Swagger UI's Authorize button sends it).
BEARER = HTTPBearer(
    auto_error=False,
    description="the token part of a GAMELINE_API_TOKENS pair (`name:token`): needed by the "
    "write endpoints, and by reads only when the config sets api.protect_reads",
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]


class Access:
    """FastAPI dependencies that let a request through or answer 401/403."""

    def __init__(self, tokens: Tokens, api: ApiConfig) -> None:
        if api.protect_reads and not tokens:
            raise ValueError(
                f"api.protect_reads needs tokens: set {api.tokens_env} to `name:token` pairs "
                "(or api.tokens_secret_block)"
            )
        self.tokens, self.api = tokens, api

    def writer(self, credentials: Credentials) -> str:
        """The name of the caller's token; 403 when writes are off or the token is wrong, 401
        without a token."""
        if not self.tokens:
            raise HTTPException(
                403,
                f"the write endpoints are off: set {self.api.tokens_env} to `name:token` pairs "
                "separated by commas (or name a Prefect Secret block in api.tokens_secret_block) "
                "and restart the API",
            )
        presented = credentials.credentials if credentials else None
        if not presented:
            raise HTTPException(
                401,
                "this endpoint needs a token: send `Authorization: Bearer <token>`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        name = self.tokens.who(presented)
        if name is None:
            raise HTTPException(403, "the token is not one of this API's tokens")
        return name

    def reader(self, credentials: Credentials) -> str | None:
        """Reads need a token only with `api.protect_reads`."""
        return self.writer(credentials) if self.api.protect_reads else None


class BodyLimit:
    """Answers 413 to a request whose body is larger than `max_bytes`: by its Content-Length
    before it is read, or as soon as a chunked body passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    def error(self) -> HTTPException:
        return HTTPException(
            413, f"the request body is larger than {self.max_bytes} bytes (api.max_request_bytes)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            error = self.error()
            await JSONResponse({"detail": error.detail}, 413)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self.error()  # FastAPI answers it as any HTTPException
            return message

        await self.app(scope, limited, send)


def guard(app: FastAPI, api: ApiConfig) -> None:
    """The body limit, and CORS for the configured origins only (none: no CORS headers)."""
    app.add_middleware(BodyLimit, max_bytes=api.max_request_bytes)
    if api.cors_origins:
        cors: dict[str, Any] = {
            "allow_origins": api.cors_origins,
            "allow_methods": ["GET", "POST"],
            "allow_headers": ["Authorization", "Content-Type"],
        }
        app.add_middleware(CORSMiddleware, **cors)
