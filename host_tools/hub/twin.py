"""Twin documents: merge a patch into desired or reported, bump `$version`, check the limits."""

import copy
import json

SECTION_LIMIT_BYTES = 32 * 1024
MAX_DEPTH = 10
# Objects and arrays nested deeper than this are refused at parse time: copy.deepcopy, json.dumps
# and _depth recurse, and a device must not be able to drive them into RecursionError.
MAX_NESTING = 64


class TwinError(ValueError):
    """A patch the hub refuses; `status` is the twin response status (400, 413)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def twin_merge_patch(section: dict, patch: dict) -> dict:
    """JSON merge patch: dicts merge recursively, null removes, anything else replaces.

    `$`-prefixed keys in the patch (such as `$version`) are metadata and ignored.
    """
    merged = copy.deepcopy(section)
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = twin_merge_patch(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _depth(value, level: int = 1) -> int:
    if isinstance(value, dict) and value:
        return max(_depth(v, level + 1) for v in value.values())
    return level


def twin_apply_patch(twin: dict, section: str, patch) -> int:
    """Apply `patch` to `twin[section]` in place; returns the new `$version`."""
    if not isinstance(patch, dict):
        raise TwinError(f"{section} patch must be a JSON object")
    current = twin[section]
    merged = twin_merge_patch({k: v for k, v in current.items() if k != "$version"}, patch)
    if _depth(merged) > MAX_DEPTH:
        raise TwinError(f"{section} properties nest deeper than {MAX_DEPTH} levels")
    if len(json.dumps(merged)) > SECTION_LIMIT_BYTES:
        raise TwinError(f"{section} properties exceed {SECTION_LIMIT_BYTES} bytes", 413)
    version = current.get("$version", 1) + 1
    merged["$version"] = version
    twin[section] = merged
    return version


def twin_parse_patch(body: bytes):
    """The JSON object a device or service sent; TwinError 400 when it is not one."""
    try:
        patch = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise TwinError(f"patch is not JSON: {exc}") from exc
    except RecursionError as exc:  # deeper than the json module's own recursion
        raise TwinError(f"patch nests deeper than {MAX_NESTING} levels") from exc
    if not isinstance(patch, dict):
        raise TwinError("patch must be a JSON object")
    if _nesting_exceeds(patch, MAX_NESTING):
        raise TwinError(f"patch nests deeper than {MAX_NESTING} levels")
    return patch


def _nesting_exceeds(value, limit: int) -> bool:
    """Whether objects/arrays nest deeper than `limit` (iterative: no recursion to exhaust)."""
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        children = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            if level > limit:
                return True
            pending.extend((child, level + 1) for child in children)
    return False
