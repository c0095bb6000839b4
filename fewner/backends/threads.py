"""How many CPU threads fewner computes with: one setting for torch and llama.cpp.

Why not every core: torch's and llama.cpp's worker threads meet at a barrier after every
operation, so when another process holds a core one descheduled thread stalls all the others
(on a shared 2-core machine two torch threads ran many times slower than one). The default is
therefore :func:`default_threads`: ``$FEWNER_THREADS``, else ``$OMP_NUM_THREADS``, else half the
usable cores (at least 1, at most 8). Every compute command's ``--threads`` calls
:func:`set_threads`, which sets torch's intra-op threads (directly when torch is loaded, else
through ``OMP_NUM_THREADS``/``MKL_NUM_THREADS``, read when torch loads, so a command that never
needs torch does not pay for importing it; worker processes inherit them), and the llama.cpp
backend reads :func:`threads`.
"""

from __future__ import annotations

import os
import sys

__all__ = ["default_threads", "set_threads", "threads"]

_chosen: int | None = None


def _env_int(name: str) -> int | None:
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return None
    return value if value >= 1 else None


def default_threads() -> int:
    """``$FEWNER_THREADS``, else ``$OMP_NUM_THREADS``, else half the usable cores, in 1..8."""
    for name in ("FEWNER_THREADS", "OMP_NUM_THREADS"):
        value = _env_int(name)
        if value is not None:
            return value
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 2
    return max(1, min(8, cores // 2))


def threads() -> int:
    """The thread count in force: the last :func:`set_threads`, else :func:`default_threads`."""
    return _chosen if _chosen is not None else default_threads()


def set_threads(count: int | None) -> int:
    """Use ``count`` threads (None: :func:`default_threads`) for torch and llama.cpp from now
    on, in this process and the worker processes it starts; returns the count."""
    global _chosen
    n = default_threads() if count is None else int(count)
    if n < 1:
        raise ValueError("threads must be >= 1")
    _chosen = n
    # read by torch (OpenMP, MKL) when it loads, and inherited by worker processes
    for name in ("FEWNER_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n
