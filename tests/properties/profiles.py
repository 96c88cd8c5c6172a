"""Hypothesis profiles of the property suite. `HYPOTHESIS_PROFILE=soak` (make soak) runs every
property with twenty times the examples `make test` runs."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# ci: fixed examples (derandomized, no example database) so `make test` is repeatable and bounded;
# each failing test shrinks and shows its first failure only (every distinct one costs up to a minute).
# soak: fresh random examples, many more of them; every distinct failure shrunk and shown.
settings.register_profile(
    "ci",
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=False,
    report_multiple_bugs=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.register_profile("soak", settings.get_profile("ci"), derandomize=False, report_multiple_bugs=True)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
SCALE = {"ci": 1, "soak": 20}.get(PROFILE, 1)


def examples(count: int) -> settings:
    """Settings for a property: the profile's, with `count` examples (times the profile's scale)."""
    return settings(settings.get_profile(PROFILE if PROFILE in ("ci", "soak") else "ci"), max_examples=count * SCALE)
