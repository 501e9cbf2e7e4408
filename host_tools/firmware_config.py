"""firmware/config.py under CPython: the one validator and default table of config.json.

The host's `config`, `deploy` and `rotate` check a config.json with the code the board runs at
boot, so the two cannot disagree. The firmware imports its siblings by bare name (`from errors
import AgentError`); they are loaded here as private modules that never enter sys.modules, so
nothing else in the host process named `config` or `errors` is shadowed. (The hub emulator is the
other side of the wire and never uses this: the no-import rule is about it.)
"""

import builtins
import functools
import types

from host_tools.paths import FIRMWARE_DIR


class _FirmwareModules:
    """Firmware modules by bare name, each loaded once, with `micropython.const` as identity."""

    def __init__(self, firmware_dir):
        self.dir = firmware_dir
        micropython = types.ModuleType("micropython")
        micropython.const = lambda value: value
        self.modules = {"micropython": micropython}
        self.builtins = {**vars(builtins), "__import__": self._import}

    def _import(self, name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and (name in self.modules or (self.dir / f"{name}.py").is_file()):
            return self.load(name)
        return builtins.__import__(name, globals, locals, fromlist, level)

    def load(self, name):
        if name not in self.modules:
            path = self.dir / f"{name}.py"
            module = types.ModuleType(f"firmware.{name}")
            module.__file__ = str(path)
            module.__builtins__ = self.builtins  # its imports resolve through _import
            self.modules[name] = module
            exec(compile(path.read_text(), str(path), "exec"), module.__dict__)
        return self.modules[name]


@functools.cache
def firmware_config() -> types.ModuleType:
    """firmware/config.py as a module: config_validate, DEFAULTS, AgentError."""
    return _FirmwareModules(FIRMWARE_DIR).load("config")
