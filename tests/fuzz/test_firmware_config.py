"""firmware/config.py's config_validate under fuzzing. Clean rejection: it returns the values
or raises AgentError (kind "config"), for any JSON value and any dict an application passes."""

import math

import config
from errors import AgentError
from hypothesis import example, given
from hypothesis import strategies as st

from ._limits import REJECTED, parse
from ._strategies import json_values

GOOD = {"hub_host": "h.azure-devices.net", "device_id": "d1", "cert_file": "c", "key_file": "k"}
KEYS = sorted(set(config.DEFAULTS) | set(GOOD) | {"io_timeout_s", "max_incoming"})

mutated_configs = st.builds(
    lambda base, changes: {**base, **changes},
    st.just(GOOD) | st.just({"hub_host": "h", "device_id": "d", "sas_key": "A" * 22 + "=="}),
    st.dictionaries(st.sampled_from(KEYS), json_values, max_size=4),
)


def _check(raw):
    result = parse(AgentError, config.config_validate, raw)
    if result is REJECTED:
        return
    assert isinstance(result, dict) and result["auth"] in ("x509", "sas")
    for key in ("hub_port", "keepalive_s", "telemetry_interval_s", "retry_min_s", "sas_ttl_s"):
        assert math.isfinite(result[key])


@given(json_values | mutated_configs)
@example({**GOOD, "keepalive_s": float("nan")})
@example({**GOOD, "telemetry_interval_s": float("nan")})
@example({**GOOD, "hub_port": float("inf")})
def test_config_validate_any_value_is_values_or_agent_error(raw):
    _check(raw)


def test_config_validate_nan_keepalive_is_a_config_error():
    # Regression (fuzzing): NaN passed the range checks, then int(nan) raised ValueError.
    for key in ("keepalive_s", "telemetry_interval_s", "retry_max_s"):
        try:
            config.config_validate({**GOOD, key: float("nan")})
        except AgentError as exc:
            assert key in exc.message
        else:
            raise AssertionError(key + " = NaN was accepted")
