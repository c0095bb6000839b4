"""The hypothesis profile of the fuzz tests: reproducible in CI, larger on demand.

``fewner-fuzz``: no deadline (a loaded CI core is slow, not wrong), ``derandomize=True`` (the
same inputs on every run, so a CI failure reproduces) and no example database. Each test picks
its own ``max_examples`` so the whole folder runs in well under 30 s; locally::

    FEWNER_FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest tests/fuzz      # more examples each
    FEWNER_FUZZ_RANDOM=1 .venv/bin/python -m pytest tests/fuzz           # new random inputs

(:func:`tests.fuzz.kit.fuzz` applies the profile with the per-test or the requested count).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "fewner-fuzz",
    deadline=None,
    derandomize=os.environ.get("FEWNER_FUZZ_RANDOM", "") not in ("1", "true", "yes"),
    database=None,
    print_blob=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)
