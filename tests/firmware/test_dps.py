"""Provisioning's table (cases_dps.py) under CPython and on both MicroPython Unix ports."""

import cases_dps
import pytest

from ._runner import assert_table_passes_on_micropython


@pytest.mark.parametrize("case", cases_dps.CASES, ids=lambda fn: fn.__name__)
def test_dps_case_under_cpython(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    case()


@pytest.mark.micropython
@pytest.mark.parametrize("binary", ["micropython_bin", "micropython32_bin"])
def test_dps_cases_on_micropython_unix_port(binary, request, tmp_path):
    assert_table_passes_on_micropython(request.getfixturevalue(binary), cases_dps, tmp_path)
