# retry.py: reconnect delays. Pure: the attempt number and a random value in [0, 1) are arguments.
from micropython import const

_RETRY_MIN_MS = const(1000)  # first delay
_RETRY_MAX_MS = const(120000)  # cap for network failures
_RETRY_AUTH_MS = const(900000)  # refused credentials: 15 min, a human has to fix something first
_RETRY_STABLE_MS = const(60000)  # a connection that lived this long resets the attempt counter


def retry_calculate_delay_ms(attempt, random_value, min_ms=_RETRY_MIN_MS, max_ms=_RETRY_MAX_MS):
    # Attempt n waits a random time in [d, 2d) with d = min_ms * 2**n, and [max/2, max) once
    # 2d passes the cap. A window a whole doubling wide: a fleet that lost the hub together
    # (one reset, one outage) is spread over seconds at the first retry already, instead of
    # arriving within a few hundred milliseconds and again in step at every later one.
    high = min_ms * 2
    while attempt > 0 and high < max_ms:
        high *= 2
        attempt -= 1
    if high > max_ms:
        high = max_ms
    low = high // 2
    if low < min_ms:
        low = min_ms if min_ms < high else high
    return low + int((high - low) * random_value)


def retry_delay_for_error_ms(
    kind, attempt, random_value, min_ms=_RETRY_MIN_MS, max_ms=_RETRY_MAX_MS, auth_ms=_RETRY_AUTH_MS
):
    # Refused credentials and bad configuration are not network errors: retrying fast hammers
    # the hub (and may get the device throttled) without any chance of success.
    if kind == "auth" or kind == "config":
        base = retry_calculate_delay_ms(attempt, random_value, auth_ms, auth_ms * 4)
        return base
    return retry_calculate_delay_ms(attempt, random_value, min_ms, max_ms)


def retry_next_attempt(attempt, connected_for_ms, stable_ms=_RETRY_STABLE_MS):
    # After a stable connection the backoff starts again from the minimum.
    if connected_for_ms is not None and connected_for_ms >= stable_ms:
        return 0
    return attempt + 1
