"""The board's side of `doctor`: what it runs and holds, and one connection attempt of its own.

Everything goes through stock mpremote, opened as deploy opens it (ports.open_transport). The
connection attempt runs the firmware's Agent on the board, so the error a user sees is the one
the firmware's own tables (firmware/explain.py) give, not a host-side guess.
"""

import ast
from dataclasses import dataclass

from host_tools.deploy.ports import transport_close

CONNECT_TIMEOUT_S = 40.0  # Wi-Fi (30 s by default), NTP, DNS, the TLS handshake, CONNECT
_RESULT_MARK = "doctor-result:"

# one exec: what the board runs, its clock, its heap, and its config.json
_PROBE = """
import sys, gc, time
r = {'version': tuple(sys.implementation.version[:3]),
     'machine': getattr(sys.implementation, '_machine', sys.platform),
     'bits': 64 if sys.maxsize > 2**32 else 32}
try:
    import tls
    r['tls'] = True
except ImportError:
    r['tls'] = False
r['time'] = time.time()
r['epoch'] = time.gmtime(0)[0]
gc.collect()
r['mem_free'] = gc.mem_free()
try:
    with open('/config.json') as f:
        r['config'] = f.read()
except OSError:
    r['config'] = None
print(repr(r))
"""

# the firmware's Agent, until it connected or failed once (watchdog off: nothing of the doctor's
# run may reset the board after it)
_CONNECT = """
import json, time
_r = None
try:
    from agent import Agent
except ImportError as e:
    _r = ('nofirmware', 'the firmware is not on the board (%s)' % e)
if _r is None:
    try:
        with open('config.json') as f:
            _c = json.load(f)
        _c['watchdog_s'] = 0
        _a = Agent.from_dict(_c)
        _a.run(until=lambda: _a.connected or _a.stats['connect_failures'], for_ms=FOR_MS)
        _r = ('connected', None) if _a.connected else (
            ('failed', _a.last_error) if _a.last_error else ('timeout', None))
        _a.stop()
    except Exception as e:
        _r = ('failed', getattr(e, 'message', None) or '%s: %s' % (type(e).__name__, e))
print(MARK, repr((_r[0], _r[1], time.time(), time.gmtime(0)[0])))
"""


@dataclass
class BoardFacts:
    """What one probe of the board found."""

    version: tuple
    machine: str
    word_bits: int
    has_tls: bool
    unix_time: float  # seconds since 1970, whatever the port's epoch
    mem_free: int
    config_text: str | None


@dataclass
class ConnectOutcome:
    """The board's connection attempt: outcome is connected, failed, timeout or nofirmware."""

    outcome: str
    message: str | None
    unix_time_after: float | None
    output: str  # what the board printed (the agent's lines)


def board_unix_time(value: float, epoch_year: int) -> float:
    """time.time() counts from 2000 on the ESP32 port and from 1970 on the Unix port."""
    return value + 946684800 if epoch_year == 2000 else value


def board_read_facts(transport) -> BoardFacts:
    raw = ast.literal_eval(transport.exec(_PROBE).decode().strip().splitlines()[-1])
    return BoardFacts(
        version=raw["version"],
        machine=raw["machine"],
        word_bits=raw["bits"],
        has_tls=raw["tls"],
        unix_time=board_unix_time(raw["time"], raw["epoch"]),
        mem_free=raw["mem_free"],
        config_text=raw["config"],
    )


def board_read_file(transport, path: str) -> bytes | None:
    """The file's bytes, or None when the board has no such file."""
    try:
        return bytes(transport.fs_readfile("/" + path.lstrip("/")))
    except OSError:
        return None


def board_try_connect(transport, timeout_s: float = CONNECT_TIMEOUT_S) -> ConnectOutcome:
    """Run the firmware's agent on the board until it connects or fails once."""
    from mpremote.transport import TransportError

    code = _CONNECT.replace("FOR_MS", str(int(timeout_s * 1000))).replace(
        "MARK", repr(_RESULT_MARK)
    )
    try:
        out, err = transport.exec_raw(code, timeout=timeout_s + 15)
    except TransportError:
        return ConnectOutcome("timeout", None, None, "")
    text = out.decode("utf-8", "replace")
    lines = [line for line in text.splitlines() if line.startswith(_RESULT_MARK)]
    if err or not lines:
        said = err.decode("utf-8", "replace").strip().splitlines() or ["no result printed"]
        return ConnectOutcome("failed", f"the board's agent crashed: {said[-1]}", None, text)
    outcome, message, after, epoch = ast.literal_eval(lines[-1][len(_RESULT_MARK) :].strip())
    return ConnectOutcome(outcome, message, board_unix_time(after, epoch), text)


def board_release(transport) -> None:
    """Leave the raw REPL with a soft reset, so main.py runs again as before the doctor came."""
    try:
        transport.exit_raw_repl()
        transport.serial.write(b"\x04")
    except OSError:
        pass
    finally:
        transport_close(transport)
