"""Hang guard and clean-rejection check shared by the fuzz properties.

`bounded(fn, *args)` runs one parser call under a CPU-time limit (ITIMER_VIRTUAL, so it neither
fires early on a loaded machine nor disturbs pytest-timeout's SIGALRM): an infinite loop fails
the property instead of blocking the run. `parse(rejections, fn, *args)` returns the value, or
REJECTED when fn raised one of the exception types its callers catch; anything else propagates
and fails the property.
"""

import signal

CALL_LIMIT_S = 2.0
REJECTED = object()


class Hang(BaseException):
    """A parser call ran past CALL_LIMIT_S of CPU (BaseException: parsers' `except Exception`
    must not swallow it)."""


def _expired(signum, frame):
    raise Hang(f"one call used more than {CALL_LIMIT_S} s of CPU: a hang")


def bounded(fn, *args, **kwargs):
    previous = signal.signal(signal.SIGVTALRM, _expired)
    signal.setitimer(signal.ITIMER_VIRTUAL, CALL_LIMIT_S)
    try:
        return fn(*args, **kwargs)
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)


def parse(rejections, fn, *args, **kwargs):
    try:
        return bounded(fn, *args, **kwargs)
    except rejections:
        return REJECTED
