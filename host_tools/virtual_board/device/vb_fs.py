# Virtual board: the filesystem seen by the firmware and by mpremote. "/" is the flash folder,
# so absolute paths never reach the host's own root. Replaces `os` (and `uos`) and `open`.
import builtins
import os as _os
import sys

FLASH = ""
FAT = False  # VB_FS=fat in the environment: rename behaves as on a FAT file system
_open = builtins.open


def _p(path):
    if isinstance(path, str) and path.startswith("/"):
        return FLASH + path.rstrip("/") if path != "/" else FLASH
    return path


class _Os:
    sep = "/"

    def ilistdir(self, path="."):
        # 4-tuples with the size, as on a board's VFS (the Unix port gives 3)
        real = _p(path) or "."
        for entry in _os.ilistdir(real):
            if len(entry) >= 4:
                yield entry
                continue
            size = 0
            if entry[1] == 0x8000:
                try:
                    size = _os.stat(real + "/" + entry[0])[6]
                except OSError:
                    pass
            yield (entry[0], entry[1], entry[2], size)

    def listdir(self, path="."):
        return [e[0] for e in _os.ilistdir(_p(path) or ".")]

    def stat(self, path):
        return _os.stat(_p(path))

    def statvfs(self, path="/"):
        # a 4 MB flash with 2 MB free, like a typical ESP32 partition table leaves
        return (4096, 4096, 1024, 512, 512, 0, 0, 0, 0, 255)

    def mkdir(self, path):
        return _os.mkdir(_p(path))

    def rmdir(self, path):
        return _os.rmdir(_p(path))

    def remove(self, path):
        return _os.remove(_p(path))

    unlink = remove

    def rename(self, old, new):
        if FAT:  # FatFs refuses to rename onto an existing file (LittleFS replaces it)
            try:
                _os.stat(_p(new))
            except OSError:
                pass
            else:
                raise OSError(17)  # EEXIST
        return _os.rename(_p(old), _p(new))

    def chdir(self, path):
        return _os.chdir(_p(path))

    def getcwd(self):
        cwd = _os.getcwd()
        if cwd == FLASH:
            return "/"
        if cwd.startswith(FLASH + "/"):
            return cwd[len(FLASH) :]
        return cwd

    def sync(self):
        pass

    def uname(self):
        return ("virtual", "virtual", "1.25.0", "MicroPython v1.25.0", "virtual board")

    def urandom(self, n):
        return _os.urandom(n)

    def getenv(self, name, default=None):
        return _os.getenv(name) or default

    def dupterm(self, *args):
        return None

    def mount(self, *args):
        raise OSError(1)

    def umount(self, *args):
        raise OSError(1)


def _mapped_open(path, *args, **kwargs):
    return _open(_p(path), *args, **kwargs)


def install(flash):
    global FLASH, FAT
    FLASH = flash
    FAT = _os.getenv("VB_FS") == "fat"
    _os.chdir(flash)
    os = _Os()
    sys.modules["os"] = os
    sys.modules["uos"] = os
    builtins.open = _mapped_open
