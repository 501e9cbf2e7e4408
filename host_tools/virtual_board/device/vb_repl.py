# Virtual board: the device side. Runs on the MicroPython Unix port, speaks MicroPython's
# friendly REPL, raw REPL and raw-paste protocols on stdin/stdout (bridged to a pty by the host).
# argv: FLASH_DIR BOOT_MODE STATE_FD   (BOOT_MODE: power | hard | wdt | soft | raw)
# Resets end this process with an exit code; the host starts a fresh one (a clean VM each time).
# STATE_FD: we write b"B" before running user code and b"I" after, so the host turns Ctrl-C
# into SIGINT only while user code runs (a signal landing in our own read would lose a byte).
import sys

_HERE = sys.argv[0].rsplit("/", 1)[0] or "."
FLASH = sys.argv[1].rstrip("/")
BOOT = sys.argv[2] if len(sys.argv) > 2 else "power"
_state = open("/dev/fd/" + sys.argv[3], "wb") if len(sys.argv) > 3 else None

# the board fakes (machine, network, ntptime) are shared with the emulated board
_FAKES = _HERE.rsplit("/", 2)[0] + "/board_fakes"
sys.path[:] = [_HERE, _FAKES]
import _board  # noqa: E402
import exit_codes  # noqa: E402
import vb_fs  # noqa: E402  (the path-mapped os and open: "/" is FLASH)

vb_fs.install(FLASH)
_board.start(FLASH, BOOT)
sys.path[:] = ["", ".frozen", FLASH + "/lib"]

EXIT_SOFT_RAW = exit_codes.EXIT_SOFT_RAW
EXIT_SOFT = exit_codes.EXIT_SOFT
EXIT_EOF = exit_codes.EXIT_EOF
_exit = _board._exit

_read = sys.stdin.buffer.read
_write = sys.stdout.buffer.write
BANNER = (
    b"MicroPython v1.25.0 on virtual board (Unix port, mbedTLS); virtual with host network\r\n"
    b'Type "help()" for more information.\r\n'
)
RAW_HEADER = b"raw REPL; CTRL-B to exit\r\n"
PASTE_WINDOW = 1024
G = {"__name__": "__main__"}


def getc():
    while True:
        try:
            b = _read(1)
        except KeyboardInterrupt:
            continue  # the host signals every Ctrl-C; when idle the byte itself is enough
        if not b:
            _exit(EXIT_EOF)
        return b[0]


def execute(src, name, mode, framed):
    # framed: raw REPL framing, stdout then \x04, errors then \x04
    try:
        if _state:
            _state.write(b"B")
        try:
            code = compile(src, name, mode)
            exec(code, G)
        finally:
            if _state:
                _state.write(b"I")
    except SystemExit:
        # sys.exit() in the REPL means a soft reset, as on a board
        if framed:
            _write(b"\x04\x04")
        _write(b"MPY: soft reboot\r\n")
        _exit(EXIT_SOFT_RAW if framed else EXIT_SOFT)
    except BaseException as exc:
        if framed:
            _write(b"\x04")
        sys.print_exception(exc, sys.stdout)
        if framed:
            _write(b"\x04")
        return
    if framed:
        _write(b"\x04\x04")


def run_file(path):
    try:
        with open(path) as f:
            src = f.read()
    except OSError:
        return
    execute(src, path, "exec", False)


def raw_paste():
    # flow control: the host may send PASTE_WINDOW bytes, then one more window per \x01 we send
    _write(b"R\x01" + bytes((PASTE_WINDOW & 0xFF, PASTE_WINDOW >> 8)))
    buf = bytearray()
    remain = PASTE_WINDOW
    while True:
        c = getc()
        if c == 4:
            _write(b"\x04")
            return bytes(buf)
        if c == 3:
            _write(b"\x04")
            return None
        buf.append(c)
        remain -= 1
        if remain == 0:
            _write(b"\x01")
            remain = PASTE_WINDOW


def raw_repl():
    _write(RAW_HEADER)
    while True:
        _write(b">")
        line = bytearray()
        while True:
            c = getc()
            if c == 1:
                if len(line) == 2 and line[0] == 5 and line[1] == 65:
                    src = raw_paste()
                    line = None
                    if src is not None:
                        execute(src, "<stdin>", "exec", True)
                    break
                _write(RAW_HEADER + b">")
                line = bytearray()
            elif c == 2:
                _write(b"\r\n")
                return
            elif c == 3:
                line = bytearray()
            elif c == 4:
                break
            else:
                line.append(c)
        if line is None:
            continue
        _write(b"OK")
        if not line:
            _write(b"\r\nMPY: soft reboot\r\n")
            _exit(EXIT_SOFT_RAW)
        execute(bytes(line), "<stdin>", "exec", True)


def friendly_repl():
    _write(BANNER)
    while True:
        _write(b">>> ")
        line = bytearray()
        while True:
            c = getc()
            if c == 1:
                _write(b"\r\n")
                return
            if c == 2:
                _write(b"\r\n" + BANNER + b">>> ")
                line = bytearray()
            elif c == 3:
                _write(b"\r\nKeyboardInterrupt!\r\n>>> ")
                line = bytearray()
            elif c == 4:
                if not line:
                    _write(b"\r\nMPY: soft reboot\r\n")
                    _exit(EXIT_SOFT)
            elif c == 8 or c == 127:
                if line:
                    line = line[:-1]  # MicroPython's bytearray has no pop()
                    _write(b"\x08 \x08")
            elif c == 13:
                _write(b"\r\n")
                break
            elif c >= 32 or c == 9:
                line.append(c)
                _write(bytes((c,)))
        if line and bytes(line).strip():
            execute(bytes(line), "<stdin>", "single", False)


def main():
    if BOOT != "raw":
        run_file("boot.py")
        run_file("main.py")
    raw = BOOT == "raw"
    if _state:
        _state.write(b"R")  # the REPL reads stdin from here on: a Ctrl-C byte reaches it
    while True:
        try:
            if raw:
                raw_repl()
            raw = False
            friendly_repl()
            raw = True
        except KeyboardInterrupt:
            pass  # a Ctrl-C between two reads: start the current mode over


main()
