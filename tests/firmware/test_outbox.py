"""The outbox queue table (cases_outbox.py) under CPython and on the MicroPython Unix port."""

import cases_outbox
import pytest

from ._runner import assert_table_passes_on_micropython


@pytest.mark.parametrize("case", cases_outbox.CASES, ids=lambda fn: fn.__name__)
def test_outbox_case_under_cpython(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    case()


@pytest.mark.micropython
def test_outbox_cases_on_micropython_unix_port(micropython_bin, tmp_path):
    assert_table_passes_on_micropython(micropython_bin, cases_outbox, tmp_path)
