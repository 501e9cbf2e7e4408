# errors.py: the firmware's one exception type (a kind that sets the retry policy, a one-line
# message, the original code) and the entry points to the explanation tables in explain.py,
# which are loaded only when something failed.
import sys

KIND_CONFIG = "config"
KIND_AUTH = "auth"
KIND_NETWORK = "network"
KIND_TLS = "tls"
KIND_MEMORY = "memory"
KIND_CLOCK = "clock"
KIND_PROTOCOL = "protocol"
KIND_TOO_LARGE = "too_large"


class AgentError(Exception):
    def __init__(self, kind, message, code=None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code

    def __str__(self):
        return self.message


def _unload(name):
    try:
        del sys.modules[name]
    except KeyError:
        pass


def error_explain(exc, during="connect"):
    # Any exception raised while talking to the hub -> AgentError with a human message.
    if isinstance(exc, AgentError):
        return exc
    try:
        from explain import explain

        return explain(exc, during)
    except MemoryError:
        code = exc.args[0] if exc.args else exc
        return AgentError(KIND_MEMORY, "out of memory during the %s (%s)" % (during, code))
    finally:
        _unload("explain")


def error_from_connack(return_code, sas=False):
    try:
        from explain import connack_error

        return connack_error(return_code, sas)
    except MemoryError:
        return AgentError(
            KIND_AUTH, "the hub refused the connection (CONNACK %d)" % return_code, return_code
        )
    finally:
        _unload("explain")
