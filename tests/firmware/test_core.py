"""The pure core's test table (cases_core.py) under CPython, one pytest test per case, and on the
MicroPython Unix port as one run."""

import cases_core
import pytest

from ._runner import assert_table_passes_on_micropython


@pytest.mark.parametrize("case", cases_core.CASES, ids=lambda fn: fn.__name__)
def test_core_case_under_cpython(case):
    case()


@pytest.mark.micropython
@pytest.mark.parametrize("binary", ["micropython_bin", "micropython32_bin"])
def test_core_cases_on_micropython_unix_port(binary, request, tmp_path):
    # i386 too: the ESP32's word size, where time.ticks_add reaches only 2**29 ms
    assert_table_passes_on_micropython(request.getfixturevalue(binary), cases_core, tmp_path)
