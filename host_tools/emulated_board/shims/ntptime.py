# `ntptime` on the emulated board: the host clock is already right, so settime() just succeeds.
import time as _time

host = "pool.ntp.org"
timeout = 1


def time_():
    return int(_time.time())


globals()["time"] = time_


def settime():
    return None
