"""Twin patches: merge rules, versions, limits."""

import pytest

from host_tools.hub.registry import new_twin
from host_tools.hub.twin import TwinError, twin_apply_patch, twin_merge_patch


@pytest.mark.parametrize(
    "section, patch, expected",
    [
        ({}, {"a": 1}, {"a": 1}),
        ({"a": 1}, {"a": None}, {}),
        ({"a": {"b": 1, "c": 2}}, {"a": {"c": None, "d": 3}}, {"a": {"b": 1, "d": 3}}),
        ({"a": {"b": 1}}, {"a": 5}, {"a": 5}),
        ({"a": 1}, {"$version": 9}, {"a": 1}),
    ],
)
def test_twin_merge_patch_table(section, patch, expected):
    assert twin_merge_patch(section, patch) == expected


def test_twin_apply_patch_bumps_section_version_only():
    twin = new_twin()
    assert twin_apply_patch(twin, "reported", {"x": 1}) == 2
    assert twin["reported"] == {"x": 1, "$version": 2}
    assert twin["desired"] == {"$version": 1}


def test_twin_apply_patch_over_32kb_refused_413():
    with pytest.raises(TwinError) as error:
        twin_apply_patch(new_twin(), "reported", {"big": "x" * 33000})
    assert error.value.status == 413


def test_twin_apply_patch_deeper_than_10_refused_400():
    deep: dict = {}
    node = deep
    for _ in range(11):
        node["k"] = {}
        node = node["k"]
    node["leaf"] = 1
    with pytest.raises(TwinError) as error:
        twin_apply_patch(new_twin(), "desired", deep)
    assert error.value.status == 400
