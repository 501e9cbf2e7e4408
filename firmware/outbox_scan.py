# outbox_scan.py: at boot, the segment files a previous run left in the outbox folder. RAM: runs
# once per Outbox, so Outbox.__init__ loads it for that call only.
import os


def outbox_scan(outbox):
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
                outbox.segments[number] = count
                outbox.disk += count
                if number > outbox.sealed:
                    outbox.sealed = outbox.newest = number
            else:
                outbox._remove(number)
