# retry.py: when to connect again, and how to say it. Pure: the attempt number and a random value
# in [0, 1) are arguments. The backoff's knobs are config.json's (retry_min_s, retry_max_s,
# retry_auth_s, defaults in config.py); the one constant of its own is below.
from micropython import const

_STABLE_MS = const(60000)  # a connection that lived this long resets the attempt counter


def retry_calculate_delay_ms(attempt, random_value, min_ms, max_ms):
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


def retry_delay_for_error_ms(kind, attempt, random_value, min_ms, max_ms, auth_ms):
    # Refused credentials and bad configuration are not network errors: retrying fast hammers
    # the hub (and may get the device throttled) without any chance of success.
    if kind == "auth" or kind == "config":
        return retry_calculate_delay_ms(attempt, random_value, auth_ms, auth_ms * 4)
    return retry_calculate_delay_ms(attempt, random_value, min_ms, max_ms)


def retry_next_attempt(attempt, connected_for_ms):
    # connected_for_ms: how long the lost connection lived, -1 when the connect itself failed.
    # After a stable connection the backoff starts again from the minimum.
    if connected_for_ms >= _STABLE_MS:
        return 0
    return attempt + 1


def retry_describe_ms(ms):
    # A delay for a human, rounded down: "0.3 s", "5.9 s", "42 s", "18 min", "26 h"; from a minute
    # on, with the way out ("reset to retry now": a reset connects at once).
    if ms < 10000:
        return "%d.%d s" % (ms // 1000, ms % 1000 // 100)
    if ms < 60000:
        return "%d s" % (ms // 1000)
    if ms < 7200000:
        text = "%d min" % (ms // 60000)
    else:
        text = "%d h" % (ms // 3600000)
    return text + " (reset to retry now)"
