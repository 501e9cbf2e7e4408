"""firmware/cold.py's table (cases_cold.py) under CPython and on both Unix port builds."""

import sys

import cases_cold
import pytest

from ._runner import assert_table_passes_on_micropython


@pytest.mark.parametrize("case", cases_cold.CASES, ids=lambda fn: fn.__name__)
def test_cold_case_under_cpython(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        case()
    finally:
        if str(tmp_path) in sys.path:
            sys.path.remove(str(tmp_path))


@pytest.mark.micropython
@pytest.mark.parametrize("binary", ["micropython_bin", "micropython32_bin"])
def test_cold_cases_on_micropython_unix_port(binary, request, tmp_path):
    assert_table_passes_on_micropython(request.getfixturevalue(binary), cases_cold, tmp_path)
