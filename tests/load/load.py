#!/usr/bin/env python3
"""load.py - many writers, many actors, through the mount: nothing lost,
nothing doubled, no errors, memory flat.

--part one: W concurrent writers x M messages each to the counter's
default instance ({"n": k}, every k distinct); every close() must return
0, and the state must end at count W*M and total = the sum of all k.

--part many: mkdir counter@k0..k(A-1), then W writers spread M messages
each over those actors; each actor's count and total must be exact.

Both print the daemon's RSS before and after (and the throughput) and
fail if it grew by more than --rss-growth-mb (generous on purpose: the
bound catches a leak per message, 32,000 of them, not allocator noise).
"""

import argparse
import collections
import json
import os
import shutil
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "torture"))
import afs  # noqa: E402


def run_writers(nw, per, target):
    """target(w, i) -> (path, body); returns Counter of errno names."""
    errs = collections.Counter()
    lock = threading.Lock()

    def writer(w):
        for i in range(per):
            path, body = target(w, i)
            rc = afs.write_file(path, body)
            if rc:
                with lock:
                    errs[os.strerror(rc)] += 1
    ts = [threading.Thread(target=writer, args=(w,)) for w in range(nw)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errs


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--actorfs", required=True)
    p.add_argument("--part", choices=("one", "many"), required=True)
    p.add_argument("--writers", type=int, default=16)
    p.add_argument("--messages", type=int, default=2000, help="per writer")
    p.add_argument("--actors", type=int, default=100)
    p.add_argument("--timeout", type=int, default=900)
    p.add_argument("--rss-growth-mb", type=int, default=256)
    p.add_argument("--tmp", default=None)
    p.add_argument("--json", help="write the figures here")
    a = p.parse_args()

    work = tempfile.mkdtemp(prefix="actorfs-load-", dir=a.tmp)
    mnt, data = os.path.join(work, "mnt"), os.path.join(work, "data")
    # Under ASan, freed memory sits in a quarantine (256 MB by default)
    # that would read as growth: keep it small so RSS means something.
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"
    d = afs.Daemon(a.actorfs, mnt, data, env=env)
    failures = []
    figures = {"part": a.part, "writers": a.writers, "messages_per_writer": a.messages}
    try:
        d.start(ready_path="counter/status")
        if a.part == "one":
            actors = ["counter"]
        else:
            actors = ["counter@k%d" % k for k in range(a.actors)]
            for name in actors:
                os.mkdir(os.path.join(mnt, name))
        rss0 = d.rss_kb()
        want = {n: [0, 0] for n in actors}
        lock = threading.Lock()

        def target(w, i):
            k = w * a.messages + i + 1
            actor = actors[k % len(actors)]
            with lock:
                want[actor][0] += 1
                want[actor][1] += k
            return (os.path.join(mnt, actor, "queues", "add", "new"),
                    json.dumps({"n": k}) + "\n")
        t0 = time.monotonic()
        errs = run_writers(a.writers, a.messages, target)
        t_enq = time.monotonic() - t0
        if errs:
            failures.append("enqueue errors: %s" % dict(errs))

        def done():
            for actor in actors:
                st = afs.try_read_json(os.path.join(mnt, actor, "state.json"))
                if st is None or st.get("count", 0) < want[actor][0]:
                    return False
            return True
        try:
            afs.wait_for(done, a.timeout, "every message to be processed", interval=0.1)
        except afs.TestFailure as e:
            failures.append(str(e))
        t_all = time.monotonic() - t0
        for actor in actors:
            st = afs.try_read_json(os.path.join(mnt, actor, "state.json")) or {}
            if st.get("count") != want[actor][0] or st.get("total") != want[actor][1]:
                failures.append("%s: state %s, want count %d total %d"
                                % (actor, st, want[actor][0], want[actor][1]))
        rss1 = d.rss_kb()
        total = a.writers * a.messages
        figures.update({
            "actors": len(actors), "messages": total,
            "enqueue_seconds": round(t_enq, 2), "all_processed_seconds": round(t_all, 2),
            "enqueue_per_s": round(total / t_enq), "processed_per_s": round(total / t_all),
            "rss_before_kb": rss0, "rss_after_kb": rss1, "errors": dict(errs)})
        print("load %s: %d messages to %d actors by %d writers: enqueued in %.1fs "
              "(%d/s), all processed in %.1fs (%d/s); RSS %d kB before, %d kB after"
              % (a.part, total, len(actors), a.writers, t_enq, total / t_enq, t_all,
                 total / t_all, rss0, rss1), flush=True)
        if rss1 - rss0 > a.rss_growth_mb * 1024:
            failures.append("RSS grew by %d kB (bound %d MB)" % (rss1 - rss0, a.rss_growth_mb))
        rc = d.stop()
        if rc != 0:
            failures.append("clean stop exited %s:\n%s" % (rc, d.tail_log()))
    except afs.TestFailure as e:
        failures.append(str(e))
    finally:
        if d.alive():
            d.kill9()
        afs.unmount(mnt)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(figures, f, indent=1)
    for f in failures:
        print("FAIL: %s" % f)
    if failures:
        print("work dir kept: %s" % work)
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
