"""DPS's service side on the hub's HTTP API (same token and checks), shaped like DPS's REST API.

  GET    /dps                              {"idScope", "hostName", "port", "assignedHub"}
  GET    /enrollments                      individual enrollments
  GET    /enrollments/{registrationId}     PUT (body: enrollment)     DELETE
  GET    /enrollmentGroups                 groups
  GET    /enrollmentGroups/{id}            PUT (body: group)          DELETE
  GET    /registrations                    registration records (with the device's payload)
  GET    /registrations/{registrationId}   DELETE
With the hub stopped the CLI runs the same routes on the stored state (host_tools/hub/cli.py).
"""

import time

from host_tools.hub.registry import RegistryError


def route_dps(hub, method: str, parts: list, body) -> tuple:
    """(HTTP status, JSON-able answer) for one DPS service request."""
    store = hub.enrollments
    now = time.time()
    match method, parts:
        case "GET", ["dps"]:
            return 200, {
                "idScope": store.id_scope,
                "hostName": hub.dps.host_name if hub.dps else None,
                "port": hub.dps.port if hub.dps else None,
                "assignedHub": hub.host_name,
            }
        case "GET", ["enrollments"]:
            return 200, [store.enrollments[k] for k in sorted(store.enrollments)]
        case "GET", ["enrollments", registration_id]:
            return 200, store.enrollment(registration_id)
        case "PUT", ["enrollments", registration_id]:
            return 200, store.put_enrollment(registration_id, body or {}, hub.registry.cas, now)
        case "DELETE", ["enrollments", registration_id]:
            store.remove("enrollment", registration_id)
            return 204, None
        case "GET", ["enrollmentGroups"]:
            return 200, [store.groups[k] for k in sorted(store.groups)]
        case "GET", ["enrollmentGroups", group_id]:
            return 200, store.group(group_id)
        case "PUT", ["enrollmentGroups", group_id]:
            return 200, store.put_group(group_id, body or {}, hub.registry.cas, now)
        case "DELETE", ["enrollmentGroups", group_id]:
            store.remove("group", group_id)
            return 204, None
        case "GET", ["registrations"]:
            return 200, [store.registrations[k] for k in sorted(store.registrations)]
        case "GET", ["registrations", registration_id]:
            return 200, store.registration(registration_id)
        case "DELETE", ["registrations", registration_id]:
            store.remove_registration(registration_id)
            return 204, None
    raise RegistryError(f"no route {method} /{'/'.join(parts)}", 404)
