# topics_connect.py: the MQTT user name and the topics subscribed at each connect. Pure: str in,
# str / bytes out. RAM: needed only while connecting, so not part of the always-loaded topics.py.
from micropython import const
from topics import url_encode

_API_VERSION = const("2021-04-12")


def iothub_user_name(hub_host, device_id, model_id=None):
    user = hub_host + "/" + device_id + "/?api-version=" + _API_VERSION
    if model_id:
        user += "&model-id=" + url_encode(model_id)
    return user


def c2d_get_subscribe_topic(device_id):
    return ("devices/" + device_id + "/messages/devicebound/#").encode()


def subscribe_topics(device_id):
    # C2D, twin responses, desired patches, method requests: one SUBSCRIBE at each connect.
    return (
        c2d_get_subscribe_topic(device_id),
        b"$iothub/twin/res/#",
        b"$iothub/twin/PATCH/properties/desired/#",
        b"$iothub/methods/POST/#",
    )
