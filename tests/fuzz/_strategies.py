"""Input strategies the fuzz properties share: topic-like bytes built from the tokens parsers
split on, JSON values (with the nesting and numbers that break parsers) and JSON bodies."""

import json

from hypothesis import strategies as st

# What topic and property-bag parsers look for, plus bytes that are not UTF-8.
TOPIC_TOKENS = [
    b"/",
    b"?",
    b"&",
    b"=",
    b"%",
    b"%2",
    b"%24",
    b"%2F",
    b"%C3",
    b"%A9",
    b"%ff",
    b"%zz",
    b"$rid",
    b"$version",
    b"$.mid",
    b"200",
    b"-1",
    b"1_0",
    b"\xc2\xb2",  # superscript two: str.isdigit() says yes, int() says no
    b"\xd9\xa3",  # Arabic-Indic three: int() accepts it
    b"\xff",
    b"\xc3",
    b"\x00",
    b" ",
    b"#",
    b"+",
]

TOPIC_PREFIXES = [
    b"",
    b"$iothub/twin/res/",
    b"$iothub/twin/res/200/?",
    b"$iothub/twin/PATCH/properties/desired/",
    b"$iothub/twin/PATCH/properties/desired/?$version=",
    b"$iothub/methods/POST/",
    b"$iothub/methods/POST/reboot/?$rid=",
    b"$iothub/methods/res/",
    b"devices/dev-1/messages/devicebound/",
    b"devices/dev-1/messages/events/",
]

topic_tail = st.lists(st.sampled_from(TOPIC_TOKENS) | st.binary(max_size=3), max_size=24).map(
    b"".join
)
topic_bytes = st.one_of(
    st.binary(max_size=64),
    st.builds(lambda p, t: p + t, st.sampled_from(TOPIC_PREFIXES), topic_tail),
)
topic_text = topic_bytes.map(lambda b: b.decode("utf-8", "replace")) | st.text(max_size=40)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def _nested(depth_and_kind):
    depth, kind = depth_and_kind
    opener, closer = {"list": ("[", "]"), "dict": ('{"a":', "}")}[kind]
    return (opener * depth + "1" + closer * depth).encode()


# Far deeper than any twin or method payload: CPython's json and copy recurse.
deep_json = st.tuples(
    st.integers(min_value=1, max_value=5000), st.sampled_from(["list", "dict"])
).map(_nested)


def _mutate(data_and_edits):
    data, edits = data_and_edits
    out = bytearray(data)
    for position, value, action in edits:
        if action == "delete" and out:
            del out[position % len(out)]
        elif action == "insert":
            out.insert(position % (len(out) + 1), value)
        elif out:
            out[position % len(out)] = value
    return bytes(out)


def mutated(valid):
    """Bytes from the `valid` strategy with a few bytes replaced, inserted or deleted."""
    edit = st.tuples(
        st.integers(min_value=0, max_value=1 << 16),
        st.integers(min_value=0, max_value=255),
        st.sampled_from(["replace", "insert", "delete"]),
    )
    return st.tuples(valid, st.lists(edit, max_size=4)).map(_mutate)


json_bodies = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda v: json.dumps(v).encode()),
    mutated(json_values.map(lambda v: json.dumps(v).encode())),
    deep_json,
)
