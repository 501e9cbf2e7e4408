# main.py: start the agent; a crash never boot-loops the board (one line, back off, REPL usable).
import time

try:
    from agent import Agent

    Agent.from_config().run()
except KeyboardInterrupt:
    print("agent: stopped")
except Exception as exc:
    print("agent: error: crashed: %s: %s" % (type(exc).__name__, exc))
    time.sleep(10)
