#!/usr/bin/env python3
"""iofault.py - failed commits reach the writer, never as success.

--kind seam: with ACTORFS_FAULT_COMMIT=1 the daemon cannot start and says
why (exit 111).  Then, on a running daemon, the torture plugin's fault
hook fails every Nth commit with EIO while a writer enqueues to the
torture workflow and the workflow steps.  Every close() must return 0 or
raise EIO/ENOSPC; the reason must be in queues/job/error; the daemon keeps
serving, and enqueues work again once the faults stop; after a restart
every acknowledged message is processed exactly once and no refused one
at all; the database passes integrity_check.

--kind enospc: the data dir is a tiny tmpfs (mounted here, unmounted at
the end).  Once a filler file has taken all its space, enqueues to the
counter must fail with ENOSPC or EIO at close (or succeed durably); after
the filler is deleted the next enqueue works; the counter's state counts
exactly the acknowledged messages; the database passes integrity_check.
"""

import argparse
import errno
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import afs  # noqa: E402

FAILED_OK = (errno.EIO, errno.ENOSPC)


def py_enqueue(path, body):
    """Python's own open/write/close, as a user's script does it: the
    failure surfaces as an exception from close() (or write)."""
    try:
        f = open(path, "w")
    except OSError as e:
        return e.errno
    try:
        f.write(body)
    except OSError as e:
        f.close()
        return e.errno
    try:
        f.close()
    except OSError as e:
        return e.errno
    return 0


def integrity(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("PRAGMA integrity_check").fetchall()
    finally:
        con.close()


class Check:
    def __init__(self):
        self.failures = []

    def expect(self, ok, what):
        if not ok:
            self.failures.append(what)
            print("FAIL: %s" % what, flush=True)


def seam(a, work, chk):
    mnt, data = os.path.join(work, "mnt"), os.path.join(work, "data")
    d = afs.Daemon(a.actorfs, mnt, data, loads=[a.plugin])
    q = os.path.join(mnt, "torture", "queues", "job")
    # ACTORFS_FAULT_COMMIT=1 fails every commit, so the start itself
    # cannot commit: the daemon must refuse to start with exit 111 and
    # the reason, not crash and not serve.
    try:
        d.start(ready_path="torture/status", env_extra={"ACTORFS_FAULT_COMMIT": "1"})
        chk.expect(False, "the daemon started with every commit failing")
        d.stop()
    except afs.DaemonExited as e:
        chk.expect(e.rc == 111, "start with every commit failing exited %s, want 111" % e.rc)
        chk.expect("Input/output error" in d.tail_log(),
                   "no reason in the log for the failed start:\n%s" % d.tail_log())
        d.proc = None
        afs.unmount(mnt)
    # Then faults at run time: the torture plugin's hook fails every Nth
    # commit while DATA/torture-fault-commit holds N.
    d.start(ready_path="torture/status")
    ctl = os.path.join(data, "torture-fault-commit")
    with open(ctl, "w") as f:
        f.write("%d\n" % a.every)
    acked, refused, other = {}, {}, {}
    reason_seen = False
    for i in range(a.messages):
        mid = "m%d" % i
        body = json.dumps({"id": mid, "n": i + 1})
        rc = py_enqueue(os.path.join(q, "new" if i % 2 else mid), body)
        if rc == 0:
            acked[mid] = i + 1
        elif rc in FAILED_OK:
            refused[mid] = i + 1
            with open(os.path.join(q, "error")) as f:
                reason_seen = reason_seen or bool(f.read().strip())
        else:
            other[mid] = os.strerror(rc)
        chk.expect(afs.try_read_json(os.path.join(mnt, "torture", "status")) is not None,
                   "status unreadable after message %d" % i)
    print("seam: %d acknowledged, %d refused (EIO/ENOSPC), %d other"
          % (len(acked), len(refused), len(other)), flush=True)
    chk.expect(not other, "writes failed with unexpected errors: %s" % dict(list(other.items())[:5]))
    chk.expect(refused, "no commit failed: ACTORFS_FAULT_COMMIT=%d had no effect" % a.every)
    chk.expect(acked, "no enqueue succeeded with every %dth commit failing" % a.every)
    chk.expect(reason_seen, "queues/job/error gave no reason after a failed commit")
    chk.expect(d.alive(), "the daemon died under commit faults")
    os.unlink(ctl)
    for i in range(a.messages, a.messages + 5):
        mid = "m%d" % i
        rc = py_enqueue(os.path.join(q, mid), json.dumps({"id": mid, "n": i + 1}))
        chk.expect(rc == 0, "enqueue after the faults stopped: %s" % os.strerror(rc))
        if rc == 0:
            acked[mid] = i + 1
    rc = d.stop()
    chk.expect(rc == 0, "clean stop after faults exited %s" % rc)

    d.start(ready_path="torture/status")
    fx = os.path.join(data, "torture-effects.log")

    def finished():
        try:
            with open(fx) as f:
                return {l.split()[1] for l in f if l.startswith("finish ")}
        except FileNotFoundError:
            return set()

    def drained():
        st = afs.try_read_json(os.path.join(mnt, "torture", "status"))
        return (set(acked) <= finished() and st is not None
                and st.get("waitingOn") == "queue:job"
                and not [n for n in os.listdir(q) if n.endswith(".json")])
    try:
        afs.wait_for(drained, a.timeout, "every acknowledged message to be processed")
    except afs.TestFailure as e:
        chk.expect(False, "%s: missing %s, status %s" % (
            e, sorted(set(acked) - finished())[:5],
            afs.try_read_json(os.path.join(mnt, "torture", "status"))))
    fin = finished()
    chk.expect(not (fin & set(refused)), "refused messages were processed: %s"
               % sorted(fin & set(refused))[:5])
    st = afs.read_json(os.path.join(mnt, "torture", "state.json"))
    want = sum(acked[m] for m in fin if m in acked)
    chk.expect(st.get("count") == len(fin) == len(acked) and st.get("sum") == want,
               "state %s, %d acknowledged, %d processed (sum %d)"
               % (st, len(acked), len(fin), want))
    rc = d.stop()
    chk.expect(rc == 0, "clean stop exited %s" % rc)
    res = integrity(os.path.join(data, "actorfs.db"))
    chk.expect(res == [("ok",)], "integrity_check: %s" % res)
    print("seam: processed %d, state %s, integrity %s" % (len(fin), st, res[0][0]))


def fill(path):
    """Writes until the filesystem is full; returns bytes written."""
    n = 0
    chunk = b"\0" * 65536
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                w = f.write(chunk)
            except OSError as e:
                if e.errno != errno.ENOSPC:
                    raise
                break
            n += w
    return n


def enospc(a, work, chk):
    mnt, data = os.path.join(work, "mnt"), os.path.join(work, "data")
    os.makedirs(data)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % a.size, "actorfs-test", data],
                   check=True)
    d = afs.Daemon(a.actorfs, mnt, data, log=os.path.join(work, "daemon.out"))
    try:
        d.start(ready_path="counter/status")
        q = os.path.join(mnt, "counter", "queues", "add")
        acked, refused, n = [], [], 0

        def send():
            nonlocal n
            n += 1
            rc = py_enqueue(os.path.join(q, "new"), json.dumps({"n": n}))
            (acked if rc == 0 else refused).append((n, rc))
            return rc
        for _ in range(5):
            chk.expect(send() == 0, "enqueue before the disk filled failed")
        filler = os.path.join(data, "filler")
        size = fill(filler)
        print("enospc: filler took %d bytes" % size, flush=True)
        full_rcs = [send() for _ in range(a.messages)]
        bad = [rc for rc in full_rcs if rc not in (0,) + FAILED_OK]
        chk.expect(not bad, "full disk gave unexpected errors: %s"
                   % sorted({os.strerror(r) for r in bad}))
        chk.expect(any(rc in FAILED_OK for rc in full_rcs),
                   "no enqueue failed on a full disk (%d tried)" % len(full_rcs))
        with open(os.path.join(q, "error")) as f:
            reason = f.read().strip()
        chk.expect(reason, "queues/add/error is empty after ENOSPC")
        print("enospc: on the full disk %d acknowledged, %d refused; reason: %s"
              % (full_rcs.count(0), len(full_rcs) - full_rcs.count(0), reason), flush=True)
        chk.expect(d.alive() and afs.try_read_json(os.path.join(mnt, "counter", "status")),
                   "the daemon stopped serving on a full disk")
        os.unlink(filler)
        rc = send()
        chk.expect(rc == 0, "enqueue after space returned failed: %s" % os.strerror(rc))
        for _ in range(5):
            chk.expect(send() == 0, "enqueue after recovery failed")
        total = sum(v for v, _ in acked)

        def done():
            st = afs.try_read_json(os.path.join(mnt, "counter", "state.json"))
            return st if st and st.get("count") == len(acked) else None
        try:
            st = afs.wait_for(done, a.timeout, "counter to count %d messages" % len(acked))
            chk.expect(st.get("total") == total, "counter total %s, want %d" % (st, total))
        except afs.TestFailure as e:
            chk.expect(False, "%s: state %s" % (e, afs.try_read_json(
                os.path.join(mnt, "counter", "state.json"))))
        st = afs.try_read_json(os.path.join(mnt, "counter", "status"))
        chk.expect(st and st.get("status") != "failed", "counter status after recovery: %s" % st)
        rc = d.stop()
        chk.expect(rc == 0, "clean stop exited %s" % rc)
        res = integrity(os.path.join(data, "actorfs.db"))
        chk.expect(res == [("ok",)], "integrity_check: %s" % res)
        print("enospc: %d acknowledged in all, counter status %s, integrity %s"
              % (len(acked), st, res[0][0]))
    finally:
        if d.alive():
            d.kill9()
        afs.unmount(mnt)
        subprocess.run(["umount", data], check=False)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--actorfs", required=True)
    p.add_argument("--plugin", required=True)
    p.add_argument("--kind", choices=("seam", "enospc"), required=True)
    p.add_argument("--messages", type=int, default=60)
    p.add_argument("--every", type=int, default=4, help="ACTORFS_FAULT_COMMIT=N")
    p.add_argument("--size", default="6m", help="tmpfs size for --kind enospc")
    p.add_argument("--timeout", type=int, default=120)
    p.add_argument("--tmp", default=None)
    a = p.parse_args()
    work = tempfile.mkdtemp(prefix="actorfs-iofault-", dir=a.tmp)
    chk = Check()
    t0 = time.monotonic()
    try:
        (seam if a.kind == "seam" else enospc)(a, work, chk)
    except afs.TestFailure as e:
        chk.expect(False, str(e))
    print("%s: %d failures, %.1fs" % (a.kind, len(chk.failures), time.monotonic() - t0))
    if chk.failures:
        print("work dir kept: %s" % work)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
