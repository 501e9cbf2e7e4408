"""Fault matrix harness: the agent's harness (tests/agent/conftest.py: `runtime` runs each test
on the CPython emulated board and on the MicroPython Unix port, `hub`, `make_device`) plus a
`proxy` between the device and the hub that the test drives."""

import pytest

from tests.agent.conftest import hub, make_device, runtime  # noqa: F401  (fixtures)

from .proxy import FaultProxy


@pytest.fixture
def proxy(hub):  # noqa: F811  (the imported fixture)
    with FaultProxy(hub.port) as fault_proxy:
        yield fault_proxy
