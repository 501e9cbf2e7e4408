"""esptool's output, the way `flash` shows it: quiet by default, one progress line, warnings kept.

esptool prints a line per stage and, when stdout is not a terminal, a new line per progress
step (about a hundred for a MicroPython image). `quiet_esptool()` installs a logger for the
duration of a flash that drops the chatter, keeps warnings and errors, and draws progress on
one line (rewritten in place on a terminal, printed once at the end otherwise). `-v` keeps
esptool's own logger.
"""

import sys
from contextlib import contextmanager

from esp_pylib.logger import EspLog
from esptool.logger import TemplateLogger, log


class _OneLineLogger(TemplateLogger):
    def __init__(self, stream):
        self.stream = stream
        self.tty = stream.isatty()
        self.shown = None  # the last progress line drawn

    def print(self, *args, **kwargs):
        pass  # stage chatter ("Uploading stub flasher...")

    def note(self, message):
        pass  # e.g. "cannot reset over a TCP socket": expected, never actionable here

    def warning(self, message):
        self._end_line()
        print(f"esptool warning: {message}", file=self.stream, flush=True)

    def error(self, message):
        self._end_line()
        print(f"esptool: {message}", file=self.stream, flush=True)

    def stage(self, finish=False):
        pass

    def progress_bar(self, cur_iter, total_iters, prefix="", suffix="", bar_length=30):
        percent = 100 * cur_iter // max(total_iters, 1)
        line = f"writing {percent:3d}%"
        if self.tty:
            self.stream.write("\r" + line)
            self.stream.flush()
            self.shown = line
        elif cur_iter >= total_iters:
            print(line, file=self.stream, flush=True)
        if cur_iter >= total_iters:
            self._end_line()

    def set_verbosity(self, verbosity):
        pass

    def _end_line(self):
        if self.shown is not None and self.tty:
            self.stream.write("\n")
        self.shown = None


@contextmanager
def quiet_esptool(verbose: bool = False, stream=None):
    """esptool's logger replaced by the one-line one while the block runs (unless `verbose`)."""
    if verbose:
        yield
        return
    previous = EspLog.instance
    log.set_logger(_OneLineLogger(stream or sys.stdout))
    try:
        yield
    finally:
        EspLog.instance = previous
