# twin.py: device twin documents and desired-property patches, parsed; stale versions detected.
# Pure: bytes in, values out.
import json


def twin_parse_document(body):
    # Full GET answer -> (desired dict without "$version", desired version, reported dict).
    doc = json.loads(bytes(body)) if len(body) else {}
    if not isinstance(doc, dict):
        raise ValueError("twin document is not an object")
    desired = doc.get("desired") or {}
    reported = doc.get("reported") or {}
    version = desired.get("$version", -1)
    return _without_version(desired), version, reported


def twin_parse_desired_patch(body, topic_version=-1):
    # Desired patch -> (patch without "$version", version); the body's $version wins.
    patch = json.loads(bytes(body)) if len(body) else {}
    if not isinstance(patch, dict):
        raise ValueError("desired patch is not an object")
    version = patch.get("$version", topic_version)
    if version is None:
        version = topic_version
    return _without_version(patch), version


def twin_is_stale(version, last_version):
    # A patch or document at or below the version already applied is ignored.
    return (
        version is not None
        and version >= 0
        and last_version is not None
        and version <= last_version
    )


def _without_version(d):
    if "$version" not in d:
        return d
    out = {}
    for key in d:
        if key != "$version":
            out[key] = d[key]
    return out
