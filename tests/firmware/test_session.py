"""session.py's reading table (cases_session.py) under CPython and on the MicroPython Unix port."""

import cases_session
import pytest

from ._runner import assert_table_passes_on_micropython


@pytest.mark.parametrize("case", cases_session.CASES, ids=lambda fn: fn.__name__)
def test_session_case_under_cpython(case, monkeypatch):
    # the cases give session.py a fake clock: the real one comes back after each
    monkeypatch.setattr(cases_session.session, "time", cases_session.session.time)
    case()


@pytest.mark.micropython
@pytest.mark.parametrize("binary", ["micropython_bin", "micropython32_bin"])
def test_session_cases_on_micropython_unix_port(binary, request, tmp_path):
    assert_table_passes_on_micropython(request.getfixturevalue(binary), cases_session, tmp_path)
