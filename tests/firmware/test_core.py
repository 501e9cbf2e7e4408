"""The pure core's test table (cases_core.py) under CPython, one pytest test per case, and on the
MicroPython Unix port as one run."""

import cases_core
import pytest

from ._runner import run_on_micropython


@pytest.mark.parametrize("case", cases_core.CASES, ids=lambda fn: fn.__name__)
def test_core_case_under_cpython(case):
    case()


@pytest.mark.micropython
def test_core_cases_on_micropython_unix_port(micropython_bin, tmp_path):
    code, output = run_on_micropython(micropython_bin, "cases_core", tmp_path)
    assert code == 0, output
    assert f"cases_core: {len(cases_core.CASES)} passed, 0 failed" in output, output
