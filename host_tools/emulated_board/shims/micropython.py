# The `micropython` module of the emulated board.
import gc
import sys


def const(value):
    return value


def native(f):
    return f


viper = native


def alloc_emergency_exception_buf(size):
    return None


def mem_info(verbose=False):
    gc.collect()
    used, free = gc.mem_alloc(), gc.mem_free()
    print(f"stack: emulated, GC: total: {used + free}, used: {used}, free: {free}")


def qstr_info(verbose=False):
    print("qstr pool: emulated")


def stack_use():
    return 0


def heap_lock():
    return 0


def heap_unlock():
    return 0


def kbd_intr(chr):
    return None


def opt_level(level=None):
    return 0 if level is None else None


def schedule(func, arg):
    func(arg)


sys.modules.setdefault("umicropython", sys.modules[__name__])
