"""Topics, property bags and user names: tables of input and expected output."""

import pytest

from host_tools.hub import topics


@pytest.mark.parametrize(
    "bag, expected",
    [
        ("", {}),
        ("a=1", {"a": "1"}),
        ("%24.mid=7&%24.ct=application%2Fjson", {"$.mid": "7", "$.ct": "application/json"}),
        ("$.mid=7", {"$.mid": "7"}),
        ("flag", {"flag": None}),
        ("empty=", {"empty": ""}),
        ("sp=a%20b&x=1", {"sp": "a b", "x": "1"}),
    ],
)
def test_property_bag_decode_table(bag, expected):
    assert topics.property_bag_decode(bag) == expected


@pytest.mark.parametrize(
    "properties, expected",
    [
        ({"a": "1", "b": "2"}, "a=1&b=2"),
        ({"path": "a/b"}, "path=a%2Fb"),
        ({"$.mid": "x"}, "%24.mid=x"),
        ({"null": None, "empty": ""}, "null&empty="),
        ({"k": "a&b=c"}, "k=a%26b%3Dc"),
    ],
)
def test_property_bag_encode_table(properties, expected):
    assert topics.property_bag_encode(properties) == expected
    assert topics.property_bag_decode(expected) == properties


@pytest.mark.parametrize(
    "user_name, expected",
    [
        ("h.net/dev/?api-version=2021-04-12", ("h.net", "dev")),
        (
            "h.net/dev/?api-version=2019-10-01&DeviceClientType=py%2F2.14%20(x)",
            ("h.net", "dev"),
        ),
        ("h.net/dev/?api-version=2020-09-30&model-id=dtmi:a:b;1", ("h.net", "dev")),
        ("h.net/dev/api-version=1", None),
        ("h.net/dev/?DeviceClientType=x", None),
        ("h.net//?api-version=1", None),
        ("dev", None),
    ],
)
def test_user_name_parse_table(user_name, expected):
    parsed = topics.user_name_parse(user_name)
    assert (parsed and (parsed.host_name, parsed.device_id)) == (expected or None)


@pytest.mark.parametrize(
    "topic, expected",
    [
        ("devices/d/messages/events/", {}),
        ("devices/d/messages/events", {}),
        ("devices/d/messages/events/a=1&%24.mid=2", {"a": "1", "$.mid": "2"}),
        ("devices/other/messages/events/", None),
        ("devices/d/messages/devicebound/", None),
    ],
)
def test_telemetry_parse_topic_table(topic, expected):
    assert topics.telemetry_parse_topic(topic, "d") == expected


@pytest.mark.parametrize(
    "topic, expected",
    [
        ("$iothub/twin/GET/?$rid=1", ("get", "1")),
        ("$iothub/twin/PATCH/properties/reported/?$rid=ab", ("patch-reported", "ab")),
        ("$iothub/twin/PATCH/properties/desired/?$rid=1", None),
        ("$iothub/twin/res/200/?$rid=1", None),
    ],
)
def test_twin_parse_request_table(topic, expected):
    parsed = topics.twin_parse_request(topic)
    assert (parsed and (parsed.kind, parsed.request_id)) == (expected or None)


@pytest.mark.parametrize(
    "topic, expected",
    [
        ("$iothub/methods/res/200/?$rid=5", (200, "5")),
        ("$iothub/methods/res/abc/?$rid=5", None),
        ("$iothub/methods/POST/x/?$rid=5", None),
    ],
)
def test_method_parse_response_table(topic, expected):
    parsed = topics.method_parse_response(topic)
    assert (parsed and (parsed.status, parsed.request_id)) == (expected or None)


@pytest.mark.parametrize(
    "topic_filter, allowed",
    [
        ("devices/d/messages/devicebound/#", True),
        ("devices/e/messages/devicebound/#", False),
        ("$iothub/twin/res/#", True),
        ("$iothub/twin/PATCH/properties/desired/#", True),
        ("$iothub/methods/POST/#", True),
        ("#", False),
        ("devices/+/messages/devicebound/#", False),
    ],
)
def test_subscription_allowed_table(topic_filter, allowed):
    assert topics.subscription_allowed(topic_filter, "d") is allowed


@pytest.mark.parametrize(
    "topic_filter, topic, matches",
    [
        ("a/#", "a/b/c", True),
        ("a/+/c", "a/b/c", True),
        ("a/+", "a/b/c", False),
        ("a/b", "a/b", True),
    ],
)
def test_topic_matches_table(topic_filter, topic, matches):
    assert topics.topic_matches(topic_filter, topic) is matches


def test_response_topics_hub_shape():
    assert topics.twin_response_topic(204, "1", 3) == "$iothub/twin/res/204/?$rid=1&$version=3"
    assert topics.twin_desired_topic(4) == "$iothub/twin/PATCH/properties/desired/?$version=4"
    assert topics.method_request_topic("go", "a") == "$iothub/methods/POST/go/?$rid=a"
