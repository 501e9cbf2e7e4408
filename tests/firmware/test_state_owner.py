"""One owner for the agent's state: no firmware module but agent.py assigns to `agent.<x>` (or to
anything reached through it: `agent.stats[...] += 1`, `agent._x[k] = v`) or calls setattr on it.
The modules loaded per call take values and return them; the agent assigns."""

import ast

import pytest

from host_tools.paths import FIRMWARE_DIR

MODULES = [p for p in sorted(FIRMWARE_DIR.glob("*.py")) if p.name != "agent.py"]


def _root(node):
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _writes_to_agent(tree):
    for node in ast.walk(tree):
        targets = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, ast.Delete):
            targets = node.targets
        for target in targets:
            for item in target.elts if isinstance(target, ast.Tuple) else [target]:
                if isinstance(item, (ast.Attribute, ast.Subscript)) and _root(item) == "agent":
                    yield node.lineno
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "setattr"
            and node.args
            and _root(node.args[0]) == "agent"
        ):
            yield node.lineno


@pytest.mark.parametrize("source", MODULES, ids=lambda p: p.name)
def test_firmware_module_never_assigns_the_agents_attributes(source):
    assert list(_writes_to_agent(ast.parse(source.read_text()))) == []


def test_state_owner_check_catches_the_old_writes():
    old = "def f(agent):\n    agent._requests = None\n    agent.stats['c2d'] += 1\n"
    assert list(_writes_to_agent(ast.parse(old))) == [2, 3]
