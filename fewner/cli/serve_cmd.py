"""``fewner serve MODEL``: serve one model over HTTP; a thin layer over :func:`fewner.serve.serve`.

The limits and batching options are :class:`fewner.serve.settings.ServeSettings` fields (their
help texts come from there). The token is never a command-line value (it would show in ``ps``):
it is read from an environment variable or a file.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from fewner.cli.options import threads_option
from fewner.serve.settings import ServeSettings

_h = ServeSettings.help
_d = ServeSettings()


def _read_token(token_env: str | None, token_file: Path | None) -> str | None:
    if token_env is not None and token_file is not None:
        raise click.UsageError("give --token-env or --token-file, not both")
    if token_env is not None:
        token = os.environ.get(token_env, "").strip()
        if not token:
            raise click.UsageError(f"--token-env {token_env}: that environment variable is unset or empty")
        return token
    if token_file is not None:
        token = token_file.read_text(encoding="utf-8").strip()
        if not token:
            raise click.UsageError(f"--token-file {token_file}: the file is empty")
        return token
    return None


@click.command("serve")
@click.argument("model")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback requires a token.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="Port (0: any free one; the log says which).")
@click.option("--token-env", metavar="NAME", default=None,
              help="Require the bearer token held in environment variable NAME.")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Require the bearer token held in this file.")
@click.option("--labels", "labels_csv", default=None,
              help="Default labels, comma-separated [default: the model's own].")
@click.option("--load-option", "-O", "raw_options", multiple=True, metavar="KEY=VALUE",
              help="Option for fewner.load, e.g. -O batch_size=8, -O definitions=conll2003 (repeatable).")
@click.option("--max-body-bytes", type=click.IntRange(min=1), default=_d.max_body_bytes,
              show_default=True, help=_h("max_body_bytes"))
@click.option("--max-texts", type=click.IntRange(min=1), default=_d.max_texts,
              show_default=True, help=_h("max_texts"))
@click.option("--max-text-chars", type=click.IntRange(min=1), default=_d.max_text_chars,
              show_default=True, help=_h("max_text_chars"))
@click.option("--max-labels", type=click.IntRange(min=1), default=_d.max_labels,
              show_default=True, help=_h("max_labels"))
@click.option("--max-label-chars", type=click.IntRange(min=1), default=_d.max_label_chars,
              show_default=True, help=_h("max_label_chars"))
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True),
              default=_d.timeout_s, show_default=True, help=_h("timeout_s"))
@click.option("--batch-wait-ms", type=click.FloatRange(min=0), default=_d.batch_wait_ms,
              show_default=True, help=_h("batch_wait_ms"))
@click.option("--max-batch", type=click.IntRange(min=1), default=_d.max_batch,
              show_default=True, help=_h("max_batch"))
@click.option("--max-queue", type=click.IntRange(min=1), default=_d.max_queue,
              show_default=True, help=_h("max_queue"))
@threads_option("the model (torch, llama.cpp)", expose=True)
@click.option("--warm-up/--no-warm-up", default=True, show_default=True,
              help="Make one small prediction before listening, so the model is loaded (and a "
              "broken one fails) at start-up rather than on the first request.")
@click.option("--access-log/--no-access-log", default=True, show_default=True,
              help="Log one line per request (stdout).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True)
def serve(model: str, host: str, port: int, token_env: str | None, token_file: Path | None,
          labels_csv: str | None, raw_options: tuple[str, ...], threads: int | None,
          warm_up: bool, access_log: bool, log_level: str, **limits: Any) -> None:
    """Serve MODEL (a saved model folder, or anything fewner.load takes) over HTTP.

    \b
    POST /v1/extract  {"texts": [...], "labels": [...]}  -> entities with offsets per text
    GET  /v1/model    the model's kind, labels, settings and manifest
    GET  /health      liveness and counters;  /docs  the API
    \b
    Example:
      fewner serve runs/wnut/model --port 8000
      curl -s localhost:8000/v1/extract -H 'content-type: application/json' \\
          -d '{"texts": ["Tim Cook visited Berlin."]}'
    \b
    Concurrent requests are gathered for --batch-wait-ms into one model call per label set.
    Requests beyond a limit get 413/422 (503 when the queue is full, 504 after --timeout)
    naming the limit. Ctrl-C stops it after the requests in flight.
    """
    from fewner.cli.predict_cmd import backend_options
    from fewner.serve.server import serve as run

    token = _read_token(token_env, token_file)
    labels = None
    if labels_csv is not None:
        labels = [t.strip() for t in labels_csv.split(",") if t.strip()]
        if not labels:
            raise click.UsageError("--labels: no labels given")
    settings = ServeSettings(token=token, **limits)
    run(model, settings, host=host, port=port, labels=labels,
        load_options=backend_options(raw_options), threads=threads, access_log=access_log,
        log_level=log_level, warm_up=warm_up)
