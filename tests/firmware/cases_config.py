# Test table of config_recover (firmware/config.py): every state a power cut can leave the
# three-step config.json switch in (FAT, where rename cannot replace). Runs under CPython and on
# the MicroPython Unix port; uses the directory "config_test" in the current directory.
import os

from _cases import eq, table_main, table_make
from config import config_recover

CASES, case = table_make()
DIR = "config_test"
PATH = DIR + "/config.json"

# (files before: suffix -> content, config.json after, files after)
#   "" = config.json, ".tmp" = the new file deploy wrote, ".old" = the previous one moved aside
RECOVERY = (
    ({"": "A"}, "A", ["config.json"]),
    ({"": "A", ".tmp": "B"}, "A", ["config.json", "config.json.tmp"]),  # not committed yet
    ({".old": "A", ".tmp": "B"}, "B", ["config.json"]),  # cut after moving the old one aside
    ({"": "B", ".old": "A"}, "B", ["config.json"]),  # cut before the old one was removed
    ({".old": "A"}, "A", ["config.json"]),  # no new file: put the old one back
    ({".tmp": "B"}, None, ["config.json.tmp"]),  # a first deploy cut short: nothing to trust
    ({}, None, []),
)


def fresh(files):
    try:
        os.mkdir(DIR)
    except OSError:
        pass
    for name in os.listdir(DIR):
        os.remove(DIR + "/" + name)
    for suffix, text in files.items():
        with open(PATH + suffix, "w") as f:
            f.write(text)


def content():
    try:
        with open(PATH) as f:
            return f.read()
    except OSError:
        return None


@case
def test_config_recover_every_state_of_the_switch():
    for before, expected, after in RECOVERY:
        fresh(before)
        config_recover(PATH)
        eq((content(), sorted(os.listdir(DIR))), (expected, after))
        config_recover(PATH)  # a second boot changes nothing
        eq((content(), sorted(os.listdir(DIR))), (expected, after))


if __name__ == "__main__":
    table_main("cases_config", CASES)
