"""Request limits: every refusal names the setting and its value (``{"detail", "limit", "value"}``).

The body-size limit is an ASGI middleware, so an oversized body is refused from its
``Content-Length`` before it is read, and a body without one (chunked) is cut off as soon as it
passes the limit; the other limits are checked on the parsed request (:func:`check_request`).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import HTTPException

from fewner.serve.schemas import ExtractRequest
from fewner.serve.settings import ServeSettings

__all__ = ["BodyLimitMiddleware", "LimitExceeded", "check_request", "error_json"]


class LimitExceeded(HTTPException):
    """A request beyond a limit: ``status`` with a message naming ``limit`` and ``value``."""

    def __init__(self, status: int, limit: str, value: float, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status_code=status, detail=message, headers=headers)
        self.limit = limit
        self.value = value

    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "limit": self.limit, "value": self.value}


def error_json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def check_request(request: ExtractRequest, settings: ServeSettings) -> None:
    """Raise :class:`LimitExceeded` (422) for the first limit ``request`` passes."""
    if len(request.texts) > settings.max_texts:
        raise LimitExceeded(
            422, "max_texts", settings.max_texts,
            f"{len(request.texts)} texts in one request; the limit max_texts is "
            f"{settings.max_texts}: split the request",
        )
    for i, text in enumerate(request.texts):
        if len(text) > settings.max_text_chars:
            raise LimitExceeded(
                422, "max_text_chars", settings.max_text_chars,
                f"texts[{i}] has {len(text)} characters; the limit max_text_chars is "
                f"{settings.max_text_chars}",
            )
    labels = request.labels or []
    if len(labels) > settings.max_labels:
        raise LimitExceeded(
            422, "max_labels", settings.max_labels,
            f"{len(labels)} labels in one request; the limit max_labels is {settings.max_labels}",
        )
    for i, label in enumerate(labels):
        if len(label) > settings.max_label_chars:
            raise LimitExceeded(
                422, "max_label_chars", settings.max_label_chars,
                f"labels[{i}] has {len(label)} characters; the limit max_label_chars is "
                f"{settings.max_label_chars}",
            )


class BodyLimitMiddleware:
    """413 for a request body over ``max_bytes`` (module docstring)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _exceeded(self, size: str) -> LimitExceeded:
        return LimitExceeded(
            413, "max_body_bytes", self.max_bytes,
            f"the request body has {size} bytes; the limit max_body_bytes is {self.max_bytes}",
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send, self._exceeded(declared.decode()))
            return
        seen = 0

        async def limited_receive() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # an HTTPException: FastAPI re-raises it from body parsing, and the app's
                    # handler for LimitExceeded answers it
                    raise self._exceeded(f"more than {self.max_bytes}")
            return message

        await self.app(scope, limited_receive, send)

    @staticmethod
    async def _refuse(send: Any, err: LimitExceeded) -> None:
        body = error_json(err.body())
        await send({"type": "http.response.start", "status": err.status_code, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]})
        await send({"type": "http.response.body", "body": body})
