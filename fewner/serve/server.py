"""Run the fewner HTTP service on uvicorn: what ``fewner serve`` does.

The checks that need the bind address come first (no token off loopback: refuse), then the model
loads (a bad folder fails before any port is opened), then uvicorn serves until Ctrl-C or SIGTERM,
finishing in-flight requests. One process, one model, one event loop: to use more cores, run
more processes behind a proxy.
"""

from __future__ import annotations

import copy
import logging
import logging.config
from pathlib import Path
from typing import Any

from fewner.predictors import Predictor
from fewner.serve.settings import ServeSettings, require_token_off_loopback

__all__ = ["serve"]

log = logging.getLogger("fewner.serve")


def serve(
    model: Predictor | str | Path,
    settings: ServeSettings | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    labels: list[str] | None = None,
    load_options: dict[str, Any] | None = None,
    threads: int | None = None,
    access_log: bool = True,
    log_level: str = "info",
    warm_up: bool = True,
) -> None:
    """Serve ``model`` on ``host:port`` until stopped (module docstring). ``port=0`` picks a
    free port (the log line ``Uvicorn running on http://HOST:PORT`` says which). ``threads``:
    torch threads, when torch is installed. ``warm_up``: see :func:`~fewner.serve.app.create_app`."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from fewner.serve.app import create_app

    settings = settings or ServeSettings()
    require_token_off_loopback(host, settings.token)
    if threads is not None:
        try:
            import torch
        except ImportError:  # a model without torch: nothing to set
            pass
        else:
            torch.set_num_threads(threads)
    log_config = copy.deepcopy(LOGGING_CONFIG)
    log_config["loggers"]["fewner"] = {"handlers": ["default"], "level": log_level.upper(),
                                       "propagate": False}
    logging.config.dictConfig(log_config)
    app = create_app(model, settings, labels=labels, load_options=load_options, warm_up=warm_up)
    predictor = app.state.predictor
    log.info("serving a model of kind %r (labels: %s)%s; API docs at /docs",
             predictor.kind, ", ".join(predictor.labels) or "none: requests must pass labels",
             "; bearer token required on /v1" if settings.token else "")
    config = uvicorn.Config(app, host=host, port=port, log_config=log_config,
                            log_level=log_level, access_log=access_log, server_header=False,
                            timeout_graceful_shutdown=int(settings.timeout_s) + 5)
    uvicorn.Server(config).run()
