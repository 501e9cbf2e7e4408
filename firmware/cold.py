# cold.py: run one function from a module loaded for that call only. Whatever the call imported
# (the module, and the modules it imported in turn) leaves sys.modules afterwards, to give its RAM
# back; what was loaded before stays. No list of names: nested calls are safe, an inner call never
# unloads a module the outer one still uses. Modules that must live for good are imported by
# resident code (agent.py's imports), never first inside a cold call.
import sys


def cold_call(name, function, *args):
    before = list(sys.modules)
    try:
        return getattr(__import__(name), function)(*args)
    finally:
        for loaded in list(sys.modules):
            if loaded not in before:
                del sys.modules[loaded]
