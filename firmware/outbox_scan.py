# outbox_scan.py: at boot, the segment files a previous run left in the outbox folder. RAM: runs
# once per Outbox, so Outbox.__init__ loads it for that call only (cold.cold_call).
import os


def outbox_scan(outbox):
    # -> (segments {number: message count}, messages in them, the highest number): the Outbox's
    # new values. Empty segment files are removed.
    segments = {}
    disk = newest = 0
    try:
        names = os.listdir(outbox.directory)
    except OSError:
        try:
            os.mkdir(outbox.directory)
        except OSError:
            pass
        names = []
    for name in names:
        if name.endswith(".seg"):
            try:
                number = int(name[:-4])
            except ValueError:
                continue
            count = len(outbox._read_segment(number))
            if count:
                segments[number] = count
                disk += count
                if number > newest:
                    newest = number
            else:
                outbox._remove(number)
    return segments, disk, newest
