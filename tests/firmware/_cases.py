# The runner every cases_*.py table shares. Under CPython pytest imports a table and runs each
# case; on the MicroPython Unix port `micropython cases_x.py` runs them all and prints the line
# "cases_x: N passed, M failed" that tests/firmware/_runner.py looks for.
# ruff: noqa: UP031  (MicroPython-compatible: %-formatting)


def table_make():
    # A new table and the decorator that adds a case to it: `CASES, case = table_make()`.
    cases = []

    def case(fn):
        cases.append(fn)
        return fn

    return cases, case


def eq(actual, expected):
    if actual != expected:
        raise AssertionError("%r != %r" % (actual, expected))


def table_summary(name, passed, failed):
    return "%s: %d passed, %d failed" % (name, passed, failed)


def table_run(name, cases, after=None):
    # Every case, each failure on its own line, `after()` (a clean-up), then the summary line;
    # returns how many failed.
    failed = 0
    for fn in cases:
        try:
            fn()
        except Exception as exc:
            failed += 1
            print("FAIL", fn.__name__, type(exc).__name__, exc)
    if after is not None:
        after()
    print(table_summary(name, len(cases) - failed, failed))
    return failed


def table_main(name, cases, after=None):
    # A table run as a script: exit status 1 if any case failed.
    import sys

    sys.exit(1 if table_run(name, cases, after) else 0)
