"""The fewner HTTP service as a FastAPI app: one predictor, loaded once, behind a micro-batcher.

``create_app(model, settings)`` takes a :class:`~fewner.predictors.Predictor` or anything
:func:`fewner.load` takes (a saved model folder, a catalogue name) and loads it here, at start-up,
never from a request. Endpoints:

* ``POST /v1/extract``: ``{"texts": [...], "labels": [...]?}`` -> ``{"entities": [[{start, end,
  label, text, score?}, ...] per text], "labels", "model", "took_ms"}``; requests are batched
  (:mod:`fewner.serve.batcher`) and limited (:mod:`fewner.serve.limits`).
* ``GET /v1/model``: kind, labels, settings, the folder's manifest (``fewner.json``) and limits.
* ``GET /health``: ``{"status": "ok", "model", "stats"}`` (counters: requests, predictor calls...).
* ``/docs`` and ``/openapi.json``: the schema, from :mod:`fewner.serve.schemas`.

With ``settings.token`` every ``/v1`` request needs ``Authorization: Bearer TOKEN`` (401 else);
``/health`` and the docs stay open. Nothing here writes files or opens a path a request names.
Errors are JSON: 413/422/503/504 name the limit; an unexpected error is a 500 that says only
"internal server error" and a request id, with the traceback in the server log under that id.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fewner.errors import BackendError, ConfigError, FewnerError, ModelNotAvailableError
from fewner.predictors import MANIFEST_FILE, Manifest, Predictor
from fewner.serve.batcher import MicroBatcher, QueueFull
from fewner.serve.limits import BodyLimitMiddleware, LimitExceeded, check_request
from fewner.serve.schemas import (
    ErrorOut,
    ExtractRequest,
    ExtractResponse,
    HealthOut,
    ModelOut,
)
from fewner.serve.settings import ServeSettings

__all__ = ["create_app"]

log = logging.getLogger("fewner.serve")

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text} for code, text in {
        401: "Missing or wrong bearer token.",
        413: "The body is over max_body_bytes.",
        422: "A malformed request, a limit (max_texts, max_text_chars, max_labels, "
             "max_label_chars) or a label the model does not know.",
        503: "Too many texts waiting (max_queue): retry later.",
        504: "The request took longer than timeout_s.",
    }.items()
}


def create_app(
    model: Predictor | str | Path,
    settings: ServeSettings | None = None,
    *,
    labels: list[str] | None = None,
    load_options: dict[str, Any] | None = None,
    warm_up: bool = True,
) -> FastAPI:
    """A FastAPI app serving ``model`` (module docstring). ``labels`` and ``load_options`` go to
    :func:`fewner.load` when ``model`` is not a predictor; a predictor passed in stays the
    caller's to close, one loaded here is closed when the app shuts down. ``warm_up``: make one
    small prediction now, so that a predictor that loads its weights lazily loads them here (and
    a broken model fails here, not on the first request)."""
    settings = settings or ServeSettings()
    predictor, manifest, owned = _load(model, labels, load_options or {})
    if warm_up:
        _warm_up(predictor, model)
    batcher = MicroBatcher(
        lambda texts, wanted: predictor.predict(texts, wanted),
        wait_s=settings.batch_wait_ms / 1000, max_batch=settings.max_batch,
        max_queue=settings.max_queue,
    )
    info = {
        "kind": predictor.kind, "labels": list(predictor.labels),
        "open_labels": predictor.open_labels, "settings": predictor.settings(),
        "manifest": manifest, "limits": settings.limits(),
    }

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()
            if owned:
                predictor.close()

    app = FastAPI(
        title="fewner", summary="Few-shot named entity recognition over HTTP.",
        description=_description(settings), lifespan=lifespan,
    )
    app.state.predictor = predictor
    app.state.batcher = batcher
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    _add_error_handlers(app, batcher)

    router = APIRouter(prefix="/v1", dependencies=[Depends(_bearer_check(settings.token))]
                       if settings.token else [], responses=_ERRORS)

    @router.post("/extract", response_model=ExtractResponse, response_model_exclude_none=True,
                 summary="Find entities in texts")
    async def extract(body: ExtractRequest) -> dict[str, Any]:
        started = time.perf_counter()
        check_request(body, settings)
        wanted = predictor.resolve_labels(body.labels)  # ConfigError -> 422 with its message
        try:
            results = await asyncio.wait_for(batcher.submit(body.texts, wanted), settings.timeout_s)
        except TimeoutError:
            batcher.stats["timeouts"] += 1
            raise LimitExceeded(
                504, "timeout_s", settings.timeout_s,
                f"the request took longer than timeout_s={settings.timeout_s} s",
            ) from None
        except QueueFull:
            raise LimitExceeded(
                503, "max_queue", settings.max_queue,
                f"more than max_queue={settings.max_queue} texts are waiting for the model; "
                "retry later", headers={"Retry-After": "1"},
            ) from None
        return {
            "entities": [[e.as_dict() for e in entities] for entities in results],
            "labels": wanted, "model": predictor.kind,
            "took_ms": round((time.perf_counter() - started) * 1000, 3),
        }

    @router.get("/model", response_model=ModelOut, summary="The model being served")
    async def model_info() -> dict[str, Any]:
        return info

    app.include_router(router)

    @app.get("/health", response_model=HealthOut, summary="Liveness and counters")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": predictor.kind, "stats": dict(batcher.stats)}

    return app


def _load(model: Predictor | str | Path, labels: list[str] | None,
          options: dict[str, Any]) -> tuple[Predictor, dict[str, Any] | None, bool]:
    if isinstance(model, Predictor):
        if labels is not None:
            model.labels = model.resolve_labels(labels)
        return model, None, False
    from fewner.api import load

    predictor = load(model, labels=labels, **options)
    from fewner.spanmodel.shipped import shipped_path

    folder = shipped_path(str(model)) or Path(str(model)).expanduser()
    has_manifest = (folder / MANIFEST_FILE).is_file()  # verified by load: no second hashing
    manifest = asdict(Manifest.read(folder, verify=False)) if has_manifest else None
    return predictor, manifest, True


def _warm_up(predictor: Predictor, model: object) -> None:
    labels = predictor.labels[:1] or ["entity"]
    try:
        predictor.predict(["Warm-up call from fewner serve."], labels)
    except FewnerError:
        raise
    except Exception as err:
        log.debug("warm-up failed", exc_info=True)
        raise ModelNotAvailableError(
            f"{model}: the model failed its warm-up prediction ({type(err).__name__}: {err})"
        ) from err


def _bearer_check(token: str):  # type: ignore[no-untyped-def]
    scheme = HTTPBearer(auto_error=False, description="The token the service was started with.")
    expected = token.encode("utf-8")

    async def check(
        credentials: HTTPAuthorizationCredentials | None = Depends(scheme),  # noqa: B008
    ) -> None:
        given = credentials.credentials.encode("utf-8") if credentials is not None else b""
        if not hmac.compare_digest(given, expected):
            raise HTTPException(
                status_code=401,
                detail="missing or wrong bearer token (send Authorization: Bearer TOKEN)",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check


def _add_error_handlers(app: FastAPI, batcher: MicroBatcher) -> None:
    async def limit_exceeded(request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, LimitExceeded)
        batcher.stats[f"refused_{err.limit}"] += 1
        return JSONResponse(err.body(), status_code=err.status_code, headers=err.headers)

    async def invalid(request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, RequestValidationError)
        # the field errors without the echoed input (which can be the whole body)
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in err.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    async def config_error(request: Request, err: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(err)}, status_code=422)

    async def backend_error(request: Request, err: Exception) -> JSONResponse:
        return _internal(request, err, batcher, 503, "the model backend failed")

    async def unexpected(request: Request, err: Exception) -> JSONResponse:
        return _internal(request, err, batcher, 500, "internal server error")

    app.add_exception_handler(LimitExceeded, limit_exceeded)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(ConfigError, config_error)
    app.add_exception_handler(BackendError, backend_error)
    app.add_exception_handler(Exception, unexpected)


def _internal(request: Request, err: BaseException, batcher: MicroBatcher, status: int,
              message: str) -> JSONResponse:
    """A generic answer with a request id; the details go to the server log only."""
    request_id = uuid.uuid4().hex[:16]
    batcher.stats["errors"] += 1
    log.error("request %s %s %s failed: %s: %s", request_id, request.method, request.url.path,
              type(err).__name__, err, exc_info=(type(err), err, err.__traceback__))
    return JSONResponse({"detail": f"{message} (request id {request_id})",
                         "request_id": request_id},
                        status_code=status, headers={"X-Request-ID": request_id})


def _description(settings: ServeSettings) -> str:
    rows = "\n".join(f"| `{name}` | {value} | {ServeSettings.help(name)} |"
                     for name, value in settings.limits().items())
    auth = ("Every `/v1` request needs `Authorization: Bearer TOKEN`."
            if settings.token else "No token is required (loopback only).")
    return (
        "Entities with character offsets for texts, from one fewner model. Concurrent requests "
        f"share model calls. {auth}\n\n| setting | value | meaning |\n|---|---|---|\n{rows}\n"
    )
