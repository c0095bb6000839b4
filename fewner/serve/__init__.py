"""fewner as an HTTP service (``fewner serve``; the ``serve`` extra: FastAPI + uvicorn).

::

    from fewner.serve import ServeSettings, create_app, serve
    serve("my-ner/", ServeSettings(max_texts=16), port=8000)        # blocks, like `fewner serve`
    app = create_app("my-ner/")                                     # or mount the ASGI app yourself

:mod:`~fewner.serve.settings` (limits, batching, token), :mod:`~fewner.serve.batcher`
(concurrent requests -> shared predictor calls), :mod:`~fewner.serve.limits` (413/422 answers),
:mod:`~fewner.serve.schemas` (the JSON), :mod:`~fewner.serve.app` (the endpoints),
:mod:`~fewner.serve.server` (uvicorn). Importing this package does not import FastAPI; the names
that need it load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from fewner.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app", "serve"]

_LAZY = {"create_app": "fewner.serve.app", "serve": "fewner.serve.server"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fewner.serve' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
