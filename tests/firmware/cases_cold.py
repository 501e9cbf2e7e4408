# Test table of firmware/cold.py: a cold call unloads exactly the modules it imported, and nested
# calls never unload what the outer call still uses. Runs under CPython (pytest imports it) and on
# the MicroPython Unix port; the modules it loads are written into the current folder.
import os
import sys

from _cases import eq, table_main, table_make
from cold import cold_call

CASES, case = table_make()

FIXTURES = {
    "coldt_shared": "VALUE = 1\n",
    "coldt_inner_only": "VALUE = 2\n",
    "coldt_inner": (
        "import sys\n"
        "import coldt_inner_only\n"
        "import coldt_shared\n"
        "def run(tag):\n"
        "    return tag, sorted(n for n in sys.modules if n.startswith('coldt_'))\n"
        "def fail():\n"
        "    raise ValueError('inner failed')\n"
    ),
    "coldt_outer": (
        "import sys\n"
        "import coldt_shared\n"
        "from cold import cold_call\n"
        "def loaded():\n"
        "    return sorted(n for n in sys.modules if n.startswith('coldt_'))\n"
        "def run():\n"
        "    inside = cold_call('coldt_inner', 'run', 'x')\n"
        "    after_inner = loaded()\n"
        "    try:\n"
        "        cold_call('coldt_inner', 'fail')\n"
        "    except ValueError:\n"
        "        pass\n"
        "    return inside, after_inner, loaded(), coldt_shared.VALUE\n"
    ),
}


def _setup():
    here = os.getcwd()
    for name in FIXTURES:
        with open(name + ".py", "w") as f:
            f.write(FIXTURES[name])
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        import importlib

        importlib.invalidate_caches()
    except ImportError:  # MicroPython: no import caches
        pass
    for name in list(sys.modules):
        if name.startswith("coldt_"):
            del sys.modules[name]


def _loaded():
    return sorted(n for n in sys.modules if n.startswith("coldt_"))


@case
def test_cold_call_unloads_exactly_what_it_imported():
    _setup()
    eq(
        cold_call("coldt_inner", "run", "a"),
        ("a", ["coldt_inner", "coldt_inner_only", "coldt_shared"]),
    )
    eq(_loaded(), [])


@case
def test_cold_call_keeps_modules_loaded_before_it():
    _setup()
    import coldt_shared

    eq(cold_call("coldt_inner", "run", "b")[1], ["coldt_inner", "coldt_inner_only", "coldt_shared"])
    eq(_loaded(), ["coldt_shared"])
    eq(sys.modules["coldt_shared"] is coldt_shared, True)  # the same module, not a second copy
    del sys.modules["coldt_shared"]


@case
def test_cold_call_nested_inner_leaves_the_outer_modules_loaded():
    _setup()
    inside, after_inner, after_failure, value = cold_call("coldt_outer", "run")
    eq(inside[1], ["coldt_inner", "coldt_inner_only", "coldt_outer", "coldt_shared"])
    # the inner call took back only what it added; the outer one's modules are all still there
    eq(after_inner, ["coldt_outer", "coldt_shared"])
    eq(after_failure, ["coldt_outer", "coldt_shared"])  # an exception unloads too
    eq(value, 1)
    eq(_loaded(), [])


@case
def test_cold_call_exception_still_unloads():
    _setup()
    try:
        cold_call("coldt_inner", "fail")
    except ValueError as exc:
        eq(str(exc), "inner failed")
    else:
        raise AssertionError("no exception")
    eq(_loaded(), [])


if __name__ == "__main__":
    table_main("cases_cold", CASES)
