"""Property-based fuzzing of every parser on both sides of the wire (hypothesis).

Two budgets: "ci" (the default, part of `make test`: few examples, derandomized so a failure
repeats) and "fuzz" (`make fuzz`, HYPOTHESIS_PROFILE=fuzz: thousands of examples per property,
random, failures kept in .hypothesis/ and replayed first next time).
"""

import os
import sys

from hypothesis import HealthCheck, settings

from host_tools.paths import FIRMWARE_DIR

# The firmware's pure modules under CPython, as tests/firmware/conftest.py sets them up: the
# firmware folder on sys.path and the identity micropython.const().
if str(FIRMWARE_DIR) not in sys.path:
    sys.path.insert(0, str(FIRMWARE_DIR))
if "micropython" not in sys.modules:
    import types

    sys.modules["micropython"] = types.SimpleNamespace(const=lambda value: value)

# deadline=None: on loaded CI cores a slow example is not a bug; hangs are caught per call by
# _limits.bounded (CPU time), and the whole test by pytest-timeout.
settings.register_profile(
    "ci",
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    max_examples=4000,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
