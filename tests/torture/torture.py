#!/usr/bin/env python3
"""torture.py - the crash torture: kill actorfs again and again under load
and prove that nothing acknowledged is lost and nothing journaled runs twice.

Each cycle starts the real daemon on the same data dir, retries the keyed
messages whose fate the last crash left unknown (EEXIST means the first
write was durable), waits until every acknowledged message has been
processed and checks the invariants, then lets concurrent writers enqueue
through the mount while the workflows step, and kills the daemon: with
SIGKILL at a random moment, through the engine's fault seam
(ACTORFS_FAULT_KILL=before:N / after:N, the daemon kills itself around its
Nth commit), or while a slow step is running (mid-step).  After each death
it reads the side-effect file the torture workflow (tortureflow.c) appends
to and the tokens the journal recorded, and checks:

  * every acknowledged message (close() returned 0) processed exactly once:
    state count and sum equal the distinct messages whose last step ran;
  * a step whose completion was journaled never runs again; a step
    interrupted before its completion was journaled may run again (the
    SPEC's at-least-once): those are counted as interrupted reruns;
  * no step entry left running/retrying/failed once the backlog is done;
  * the counter example's state equals its acknowledged messages;
  * the mount serves after every restart, and the final clean stop exits 0
    with an intact database.

Prints cycles, kills, acknowledged, processed, violations; exits 1 on any
violation, 2 when the harness itself could not run.
"""

import argparse
import collections
import errno
import json
import os
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import afs  # noqa: E402

TOKEN_RE = re.compile(r"t\d+x\d+\.\d+")
STEP_KINDS = ("prepare", "left", "slow", "finish")
MODES = ("random", "before", "after", "midstep")


class Died(Exception):
    """The daemon died in the middle of a phase (a fault-seam kill)."""


class Ledger:
    """What the writers did, shared between writer threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.attempted = {}       # message id -> n
        self.acked = set()
        self.unresolved = {}      # keyed id whose write failed -> body
        self.c_acked = set()      # counter keys acknowledged
        self.c_unresolved = {}
        self.errors = collections.Counter()
        self.next_n = 1

    def alloc_n(self):
        with self.lock:
            n = self.next_n
            self.next_n += 1
            return n


class Effects:
    """Incremental reader of DATA/torture-effects.log."""

    def __init__(self, path):
        self.path = path
        self.off = 0
        self.begins = {}           # token -> id of a begun slow step
        self.finished = set()      # ids whose finish step ran
        self.token_key = {}        # token -> (step, id)
        self.pending = []          # (step, id, token) since last take()

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off)
                data = f.read()
        except FileNotFoundError:
            return
        end = data.rfind(b"\n") + 1
        self.off += end
        for raw in data[:end].splitlines():
            parts = raw.decode().split()
            if len(parts) == 5 and parts[0] == "begin":
                self.begins[parts[3]] = parts[2]
            elif len(parts) == 4 and parts[0] in STEP_KINDS:
                step, mid, tok = parts[0], parts[1], parts[2]
                self.token_key[tok] = (step, mid)
                self.pending.append((step, mid, tok))
                if step == "finish":
                    self.finished.add(mid)

    def take(self):
        self.poll()
        out, self.pending = self.pending, []
        return out

    def has_begun(self, mid):
        self.poll()
        return any(v == mid for v in self.begins.values())


class Torture:
    def __init__(self, args):
        self.a = args
        self.rng = random.Random(args.seed)
        self.work = tempfile.mkdtemp(prefix="actorfs-torture-", dir=args.tmp)
        self.mnt = os.path.join(self.work, "mnt")
        self.data = os.path.join(self.work, "data")
        env = dict(os.environ)
        env.pop("ACTORFS_FAULT_KILL", None)
        env.pop("ACTORFS_FAULT_COMMIT", None)
        self.d = afs.Daemon(args.actorfs, self.mnt, self.data, loads=[args.plugin],
                            extra=["--durability", args.durability]
                            + (["--io-uring"] if args.io_uring else []), env=env)
        self.led = Ledger()
        self.fx = Effects(os.path.join(self.data, "torture-effects.log"))
        self.journaled = {}        # (step, id) -> token the journal holds
        self.ran_before = set()    # (step, id) executed in an earlier run
        self.violations = []
        self.kills = collections.Counter()
        self.fault_unreached = 0
        self.kills_in_start = 0
        self.runs = []             # (cycle, kill mode, daemon pid)
        self.midstep_confirmed = 0
        self.reruns = 0
        self.drains = 0
        self.cycles = 0
        self.have_counter = False
        self.tokens_seen = 0

    # ---- helpers ----------------------------------------------------------

    def violate(self, what):
        self.violations.append("cycle %d: %s" % (self.cycles, what))
        print("VIOLATION cycle %d: %s" % (self.cycles, what), flush=True)

    def qpath(self, actor, queue, name):
        return os.path.join(self.mnt, actor, "queues", queue, name)

    def alive_or_die(self):
        if not self.d.alive():
            raise Died()

    # ---- writers ----------------------------------------------------------

    def write_job(self, mid, body, keyed):
        rc = afs.write_file(self.qpath("torture", "job", mid if keyed else "new"),
                            json.dumps(body))
        led = self.led
        with led.lock:
            if rc == 0:
                led.acked.add(mid)
                led.unresolved.pop(mid, None)
            elif rc == errno.EEXIST and keyed and mid not in led.unresolved:
                self.violate("fresh key %s refused with EEXIST" % mid)
            elif rc == errno.EEXIST and keyed:
                led.acked.add(mid)  # the write before the crash was durable
                led.unresolved.pop(mid, None)
            else:
                led.errors[errno.errorcode.get(rc, str(rc))] += 1
                if keyed:
                    led.unresolved[mid] = body
        return rc

    def write_counter(self, key):
        rc = afs.write_file(self.qpath("counter", "add", key), '{"n":1}\n')
        led = self.led
        with led.lock:
            if rc == 0 or (rc == errno.EEXIST and key in led.c_unresolved):
                led.c_acked.add(key)
                led.c_unresolved.pop(key, None)
            elif rc == errno.EEXIST:
                self.violate("fresh counter key %s refused with EEXIST" % key)
            else:
                led.errors[errno.errorcode.get(rc, str(rc))] += 1
                led.c_unresolved[key] = True
        return rc

    def writer(self, wid, quota, stop, seed):
        rng = random.Random(seed)
        for i in range(quota):
            if stop.is_set():
                return
            mid = "w%d-%d-%d" % (self.cycles, wid, i)
            body = {"id": mid, "n": self.led.alloc_n()}
            if rng.random() < 0.1:
                body["slowMs"] = rng.randint(20, 120)
            with self.led.lock:
                self.led.attempted[mid] = body["n"]
            rc = self.write_job(mid, body, rng.random() < 0.7)
            if self.have_counter and rc == 0:
                rc = self.write_counter("c%d-%d-%d" % (self.cycles, wid, i))
            if rc in (errno.ENOTCONN, errno.ENOENT, errno.ECONNABORTED):
                return

    # ---- phases -----------------------------------------------------------

    def resolve(self):
        """Retries keyed messages whose acknowledgement the crash swallowed."""
        for mid, body in list(self.led.unresolved.items()):
            self.alive_or_die()
            rc = self.write_job(mid, body, True)
            if rc in (errno.ECONNABORTED, errno.ENOTCONN):
                # The connection is gone: the daemon is dying (a fault-seam
                # kill), though it may not be reaped yet.
                self.d.wait_exit(10)
            if rc not in (0, errno.EEXIST):
                self.alive_or_die()
                self.violate("retry of %s after restart failed: %s"
                             % (mid, os.strerror(rc)))
        for key in list(self.led.c_unresolved):
            self.alive_or_die()
            self.write_counter(key)

    def pending_files(self, actor, queue):
        try:
            return [n for n in os.listdir(os.path.join(self.mnt, actor, "queues", queue))
                    if n.endswith(".json")]
        except OSError as e:
            if e.errno in (errno.ECONNABORTED, errno.ENOTCONN):
                # A fault-seam kill: the daemon is dying, maybe not reaped yet.
                self.d.wait_exit(10)
            self.alive_or_die()
            raise

    def drained(self):
        self.alive_or_die()
        self.fx.poll()
        with self.led.lock:
            missing = self.led.acked - self.fx.finished
        if missing or self.pending_files("torture", "job"):
            return False
        st = afs.try_read_json(os.path.join(self.mnt, "torture", "status"))
        if st is None or st.get("waitingOn") != "queue:job":
            return False
        if self.have_counter:
            if self.pending_files("counter", "add"):
                return False
            cst = afs.try_read_json(os.path.join(self.mnt, "counter", "state.json"))
            if cst is None or cst.get("count") != len(self.led.c_acked):
                return False
        return True

    def drain_and_check(self):
        deadline = time.monotonic() + self.a.drain_timeout
        while not self.drained():
            if time.monotonic() > deadline:
                self.alive_or_die()
                with self.led.lock:
                    missing = sorted(self.led.acked - self.fx.finished)
                self.violate("not drained within %ds: %d acknowledged messages "
                             "unprocessed (e.g. %s); status %s"
                             % (self.a.drain_timeout, len(missing), missing[:5],
                                afs.try_read_json(os.path.join(self.mnt, "torture",
                                                               "status"))))
                return
            time.sleep(0.02)
        self.check_state()
        self.check_steps()
        self.drains += 1

    def check_state(self):
        st = afs.read_json(os.path.join(self.mnt, "torture", "state.json"))
        fin = self.fx.finished
        with self.led.lock:
            strangers = fin - set(self.led.attempted)
            want_sum = sum(self.led.attempted[m] for m in fin if m in self.led.attempted)
        if strangers:
            self.violate("processed messages never sent: %s" % sorted(strangers)[:5])
        if st.get("count") != len(fin) or st.get("sum") != want_sum:
            self.violate("state %s but %d distinct messages processed (sum %d)%s"
                         % (st, len(fin), want_sum, self.explain(st.get("sum", 0) - want_sum)))
        if self.have_counter:
            cst = afs.read_json(os.path.join(self.mnt, "counter", "state.json"))
            n = len(self.led.c_acked)
            if cst.get("count") != n or cst.get("total") != n:
                self.violate("counter state %s, %d acknowledged" % (cst, n))

    def explain(self, dsum):
        """Names the message(s) whose n is the sum's difference and their
        step executions, with the runs (pid, kill mode) they happened in."""
        with self.led.lock:
            ids = [m for m, n in self.led.attempted.items() if n == abs(dsum)]
        out = []
        for m in ids:
            lines = []
            try:
                with open(self.fx.path) as f:
                    lines = [l.strip() for l in f if (" %s " % m) in l]
            except OSError:
                pass
            out.append("; message %s (n=%d): %s" % (m, abs(dsum), " | ".join(lines)))
        out.append("; runs (cycle mode pid): %s" % " ".join(
            "%d:%s:%s" % r for r in self.runs[-12:]))
        return "".join(out)

    def check_steps(self):
        root = os.path.join(self.mnt, "torture", "steps")
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                e = afs.try_read_json(os.path.join(dirpath, name))
                if e is None:
                    self.alive_or_die()
                    self.violate("unreadable journal entry %s" % os.path.join(dirpath, name))
                    continue
                if e.get("kind") == "step" and e.get("status") != "completed":
                    self.violate("entry %s is %s after resume finished"
                                 % (os.path.relpath(os.path.join(dirpath, name), root),
                                    e.get("status")))

    # ---- after each death: the journal against the side effects -----------

    def journal_tokens(self):
        """Tokens in the database, read from a copy (WAL included) so the
        check never touches the real files."""
        snap = tempfile.mkdtemp(dir=self.work)
        try:
            for suffix in ("", "-wal"):
                src = os.path.join(self.data, "actorfs.db" + suffix)
                if os.path.exists(src):
                    shutil.copy(src, os.path.join(snap, "actorfs.db" + suffix))
            con = sqlite3.connect(os.path.join(snap, "actorfs.db"))
            try:
                toks = set()
                tables = [r[0] for r in con.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'")]
                for t in tables:
                    for row in con.execute('SELECT * FROM "%s"' % t.replace('"', '""')):
                        for v in row:
                            if isinstance(v, bytes):
                                v = v.decode(errors="replace")
                            if isinstance(v, str) and "t" in v:
                                toks.update(TOKEN_RE.findall(v))
                return toks
            finally:
                con.close()
        finally:
            shutil.rmtree(snap, ignore_errors=True)

    def account_run(self):
        """Called once a daemon run is over (dead or stopped)."""
        runs = collections.defaultdict(list)
        for step, mid, tok in self.fx.take():
            runs[(step, mid)].append(tok)
        for key, toks in runs.items():
            if len(toks) > 1:
                self.violate("%s of %s ran %d times in one daemon run" % (key[0], key[1], len(toks)))
            if key in self.journaled:
                self.violate("%s of %s ran again (token %s) though its completion "
                             "was journaled (token %s)" % (key[0], key[1], toks[0],
                                                          self.journaled[key]))
            elif key in self.ran_before:
                self.reruns += 1
            self.ran_before.add(key)
        toks = self.journal_tokens()
        self.tokens_seen = max(self.tokens_seen, len(toks))
        for t in toks:
            key = self.fx.token_key.get(t)
            if key is None:
                self.violate("journal holds token %s that no step execution produced" % t)
            elif key not in self.journaled:
                self.journaled[key] = t

    # ---- one cycle ----------------------------------------------------------

    def kill_phase(self, mode):
        """Starts writers and kills the daemon the chosen way."""
        stop = threading.Event()
        threads = []
        for w in range(self.a.writers):
            t = threading.Thread(target=self.writer,
                                 args=(w, self.rng.randint(2, self.a.quota), stop,
                                       self.rng.random()))
            t.start()
            threads.append(t)
        slow_begun = None
        try:
            if mode == "random":
                time.sleep(self.rng.uniform(0.0, self.a.max_delay))
            elif mode == "midstep":
                mid = "slow-%d" % self.cycles
                body = {"id": mid, "n": self.led.alloc_n(),
                        "slowMs": self.rng.randint(300, 800)}
                with self.led.lock:
                    self.led.attempted[mid] = body["n"]
                if self.write_job(mid, body, True) == 0:
                    afs.wait_for(lambda: not self.d.alive() or self.fx.has_begun(mid),
                                 self.a.drain_timeout, "slow step of %s to begin" % mid,
                                 interval=0.002)
                    slow_begun = mid
            else:
                if self.d.wait_exit(self.a.fault_wait) is None:
                    self.fault_unreached += 1
        finally:
            died_alone = not self.d.alive()
            self.d.kill9()
            stop.set()
            for t in threads:
                t.join(60)
                if t.is_alive():
                    raise afs.TestFailure("a writer is stuck after the kill")
        if slow_begun and not died_alone:
            self.fx.poll()
            if ("slow", slow_begun) not in self.fx.token_key.values():
                self.midstep_confirmed += 1
        return died_alone

    def cycle(self, mode):
        env = {}
        if mode in ("before", "after"):
            env["ACTORFS_FAULT_KILL"] = "%s:%d" % (mode, self.rng.randint(1, self.a.max_commit))
        try:
            self.d.start(ready_path="torture/status", env_extra=env)
        except afs.DaemonExited as e:
            if not env or e.rc != -9:
                raise
            self.d.kill9()
            self.kills[mode] += 1
            self.kills_in_start += 1
            self.account_run()
            return
        self.runs.append((self.cycles, env.get("ACTORFS_FAULT_KILL", mode), self.d.pid()))
        try:
            self.resolve()
            self.drain_and_check()
            self.kill_phase(mode)
        except Died:
            self.d.kill9()
        except OSError:
            # A read through the mount failed: fine only if the daemon
            # killed itself (fault seam) under it.
            if self.d.alive():
                raise
            self.d.kill9()
        self.kills[mode] += 1
        self.account_run()

    def run(self):
        t0 = time.monotonic()
        self.d.start(ready_path="torture/status")
        self.have_counter = os.path.isdir(os.path.join(self.mnt, "counter"))
        self.d.stop()
        self.account_run()
        for _ in range(self.a.cycles):
            self.cycles += 1
            self.cycle(self.rng.choice(MODES))
            if self.cycles % 10 == 0:
                self.progress(t0)
        # The end: one more run without faults, everything drained, then a
        # clean stop that must exit 0 (under ASan also: no leaks).
        self.d.start(ready_path="torture/status")
        self.resolve()
        self.drain_and_check()
        rc = self.d.stop()
        if rc != 0:
            self.violate("clean stop exited %s:\n%s" % (rc, self.d.tail_log()))
        self.account_run()
        self.integrity()
        self.progress(t0)
        return self.summary(time.monotonic() - t0)

    def integrity(self):
        con = sqlite3.connect(os.path.join(self.data, "actorfs.db"))
        try:
            res = con.execute("PRAGMA integrity_check").fetchall()
        finally:
            con.close()
        if res != [("ok",)]:
            self.violate("integrity_check: %s" % res[:5])

    def progress(self, t0):
        print("cycle %d: kills %d, acknowledged %d, processed %d, reruns %d, "
              "violations %d, %.0fs" % (self.cycles, sum(self.kills.values()),
                                        len(self.led.acked), len(self.fx.finished),
                                        self.reruns, len(self.violations),
                                        time.monotonic() - t0), flush=True)

    def summary(self, secs):
        with self.led.lock:
            unresolved = len(self.led.unresolved)
            lost = len(self.led.acked - self.fx.finished)
        s = {
            "cycles": self.cycles,
            "kills": sum(self.kills.values()),
            "kills_by_mode": dict(self.kills),
            "fault_kill_not_reached": self.fault_unreached,
            "fault_kills_during_start": self.kills_in_start,
            "midstep_kills_confirmed": self.midstep_confirmed,
            "acknowledged": len(self.led.acked),
            "attempted": len(self.led.attempted),
            "processed": len(self.fx.finished),
            "lost": lost,
            "unresolved_keys": unresolved,
            "counter_acknowledged": len(self.led.c_acked),
            "interrupted_step_reruns": self.reruns,
            "journaled_tokens_seen": self.tokens_seen,
            "drain_checks": self.drains,
            "write_errors": dict(self.led.errors),
            "violations": len(self.violations),
            "seconds": round(secs, 1),
            "durability": self.a.durability,
            "seed": self.a.seed,
        }
        s["kill_hangs"] = self.d.kill_hangs
        if self.d.kill_hangs:
            self.violate("%d times the SIGKILLed daemon did not exit within 5 s (a thread "
                         "stuck in the kernel on its own mount kept /dev/fuse open and the "
                         "mount hung until umount -f aborted it)" % self.d.kill_hangs)
        if lost:
            self.violate("%d acknowledged messages never processed" % lost)
        if self.tokens_seen == 0:
            self.violate("no step token found in the database: the journal check saw nothing")
        s["violations"] = len(self.violations)
        return s


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--actorfs", required=True, help="the daemon binary")
    p.add_argument("--plugin", required=True, help="libtortureflow.so")
    p.add_argument("--cycles", type=int, default=100, help="kill/restart cycles")
    p.add_argument("--ci", action="store_true", help="the bounded CI run (100 cycles)")
    p.add_argument("--writers", type=int, default=4)
    p.add_argument("--quota", type=int, default=12, help="max messages per writer per cycle")
    p.add_argument("--max-delay", type=float, default=1.0, help="random kill within this many s")
    p.add_argument("--max-commit", type=int, default=80, help="fault kill at commit 1..N")
    p.add_argument("--fault-wait", type=float, default=8.0)
    p.add_argument("--drain-timeout", type=int, default=120)
    p.add_argument("--durability", default="full", choices=("full", "normal"))
    p.add_argument("--io-uring", action="store_true",
                   help="mount with --io-uring (the kernel must offer it)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--tmp", default=None, help="where the work dir goes")
    p.add_argument("--json", help="also write the summary as JSON here")
    p.add_argument("--keep", action="store_true", help="keep the work dir")
    a = p.parse_args()
    if a.ci:
        a.cycles = 100
    if a.seed is None:
        a.seed = random.randrange(1 << 30)
    print("torture: %d cycles, seed %d (rerun with --seed %d)" % (a.cycles, a.seed, a.seed),
          flush=True)
    t = Torture(a)
    try:
        s = t.run()
    except (afs.TestFailure, OSError) as e:
        print("torture harness failed: %s\n%s" % (e, t.d.tail_log()), file=sys.stderr)
        t.d.kill9()
        return 2
    finally:
        afs.unmount(t.mnt)
    print(json.dumps(s, indent=1))
    for v in t.violations[:20]:
        print("violation: %s" % v)
    print("cycles %d kills %d acknowledged %d processed %d violations %d "
          "interrupted-reruns %d" % (s["cycles"], s["kills"], s["acknowledged"],
                                     s["processed"], s["violations"],
                                     s["interrupted_step_reruns"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(s, f, indent=1)
    if not a.keep and not s["violations"]:
        shutil.rmtree(t.work, ignore_errors=True)
    else:
        print("work dir kept: %s" % t.work)
    return 1 if s["violations"] else 0


if __name__ == "__main__":
    sys.exit(main())
