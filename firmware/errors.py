# errors.py: the firmware's one exception type (a kind that sets the retry policy, a one-line
# message, the original code) and the entry points to the explanation tables in explain.py,
# which are loaded only when something failed.
import sys


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
    if isinstance(exc, MemoryError):  # explain.py itself needs ~7 KB: not for this one
        return AgentError("memory", "out of memory during the %s: free RAM" % during)
    try:
        from explain import explain

        return explain(exc, during)
    except MemoryError:
        code = exc.args[0] if exc.args else exc
        return AgentError("memory", "out of memory during the %s (%s)" % (during, code))
    finally:
        _unload("explain")


def error_from_connack(return_code, sas=False):
    try:
        from explain import connack_error

        return connack_error(return_code, sas)
    except MemoryError:
        return AgentError(
            "auth", "the hub refused the connection (CONNACK %d)" % return_code, return_code
        )
    finally:
        _unload("explain")
