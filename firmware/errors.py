# errors.py: the firmware's one exception type (a kind that sets the retry policy, a one-line
# message, the original code) and the entry points to the explanation tables in explain.py,
# which are loaded only when something failed.
from cold import cold_call


class AgentError(Exception):
    def __init__(self, kind, message, code=None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.code = code

    def __str__(self):
        return self.message


def error_explain(exc, during="connect"):
    # Any exception raised while talking to the hub -> AgentError with a human message.
    if isinstance(exc, AgentError):
        return exc
    if isinstance(exc, MemoryError):  # explain.py itself needs ~7 KB: not for this one
        return AgentError("memory", "out of memory during the %s: free RAM" % during)
    try:
        return cold_call("explain", "explain", exc, during)
    except MemoryError:
        code = exc.args[0] if exc.args else exc
        return AgentError("memory", "out of memory during the %s (%s)" % (during, code))


def error_from_connack(return_code, sas=False):
    try:
        return cold_call("explain", "connack_error", return_code, sas)
    except MemoryError:
        return AgentError(
            "auth", "the hub refused the connection (CONNACK %d)" % return_code, return_code
        )
