"""afs.py - drive the real actorfs daemon from Python black-box tests.

Owns the daemon's life in a test: start it on a mount point and a data
dir, wait until it serves, kill it with SIGKILL or stop it cleanly, clear
a dead mount, and write messages the way a user's program does (open,
write, close; close() returning 0 is the acknowledgement).  Shared by the
torture, I/O fault, load and security tests so that each of them mounts
and waits the same way.
"""

import ctypes
import errno
import json
import os
import signal
import subprocess
import time


class TestFailure(Exception):
    pass


class DaemonExited(TestFailure):
    """The daemon ended before it mounted; rc is its return code
    (-9: SIGKILL, e.g. a fault-seam kill during start)."""

    def __init__(self, msg, rc):
        super().__init__(msg)
        self.rc = rc


def wait_for(cond, timeout, what, interval=0.01):
    """Polls cond() until it is truthy; returns its value or raises."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise TestFailure("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def unmount(mnt):
    """Detaches a mount, dead or alive; quiet when nothing is mounted."""
    if os.path.ismount(mnt) or _dead_mount(mnt):
        subprocess.run(["fusermount3", "-u", "-z", mnt], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        if os.path.ismount(mnt) or _dead_mount(mnt):
            subprocess.run(["umount", "-l", mnt], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, check=False)


_libc = ctypes.CDLL(None, use_errno=True)
_MNT_FORCE = 1


def abort_mount(mnt):
    """umount2(MNT_FORCE): FUSE aborts the connection (every pending and
    later request fails with ENOTCONN); the unmount itself may fail, busy.
    Called in this process on purpose: a forked umount would inherit this
    process's descriptors on the hung mount and hang flushing them."""
    _libc.umount2(os.fsencode(mnt), _MNT_FORCE)


def _dead_mount(mnt):
    try:
        os.stat(mnt)
        return False
    except OSError as e:
        return e.errno == errno.ENOTCONN


class Daemon:
    """One actorfs process on MNT with --data DATA."""

    def __init__(self, binary, mnt, data, loads=(), extra=(), env=None, log=None):
        self.binary = binary
        self.mnt = mnt
        self.data = data
        self.loads = list(loads)
        self.extra = list(extra)
        self.env = dict(os.environ if env is None else env)
        self.log = log or os.path.join(os.path.dirname(mnt), "daemon.out")
        self.proc = None
        self.kill_hangs = 0

    def start(self, ready_path=None, timeout=60, env_extra=None):
        os.makedirs(self.mnt, exist_ok=True)
        os.makedirs(self.data, exist_ok=True)
        unmount(self.mnt)
        cmd = [self.binary, self.mnt, "--data", self.data, "-f"]
        for lib in self.loads:
            cmd += ["--load", lib]
        cmd += self.extra
        env = dict(self.env)
        env.update(env_extra or {})
        out = open(self.log, "ab")
        self.proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out,
                                     stdin=subprocess.DEVNULL)
        out.close()
        probe = os.path.join(self.mnt, ready_path) if ready_path else self.mnt

        def ready():
            if self.proc.poll() is not None:
                raise DaemonExited("actorfs exited with %s during start; log %s:\n%s"
                                   % (self.proc.returncode, self.log, self.tail_log()),
                                   self.proc.returncode)
            return os.path.ismount(self.mnt) and os.path.exists(probe)
        wait_for(ready, timeout, "actorfs to mount %s" % probe)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        return self.proc.pid

    def kill9(self, grace=5):
        """SIGKILL (if still alive), reap, clear the dead mount.

        A killed daemon whose thread is stuck in the kernel on its own
        mount cannot finish dying, and keeps /dev/fuse open, so nothing
        ever answers the mount's requests.  After GRACE seconds the FUSE
        connection is aborted (abort_mount) so that everyone moves on; such
        hangs are counted in kill_hangs, for the caller to report."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        try:
            rc = self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill_hangs += 1
            abort_mount(self.mnt)
            rc = self.proc.wait(timeout=30)
        unmount(self.mnt)
        self.proc = None
        return rc

    def wait_exit(self, timeout):
        """Waits for the process to end on its own; its return code or None."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=60):
        """Clean shutdown with SIGTERM; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise TestFailure("actorfs did not stop within %ds of SIGTERM" % timeout)
        unmount(self.mnt)
        self.proc = None
        return rc

    def tail_log(self, n=40):
        lines = []
        for p in (self.log, os.path.join(self.data, "actorfs.log")):
            try:
                with open(p, "rb") as f:
                    lines += ["[%s] %s" % (os.path.basename(p), l.decode(errors="replace"))
                              for l in f.read().splitlines()[-n:]]
            except OSError:
                pass
        return "\n".join(lines)

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise TestFailure("no VmRSS for pid %d" % self.proc.pid)


def write_file(path, body):
    """open/write/close like a user's program; returns 0 or the errno.
    The message is acknowledged only when this returns 0."""
    data = body if isinstance(body, bytes) else body.encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    except OSError as e:
        return e.errno
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
    except OSError as e:
        try:
            os.close(fd)
        except OSError:
            pass
        return e.errno
    try:
        os.close(fd)
    except OSError as e:
        return e.errno
    return 0


def read_json(path):
    with open(path, "rb") as f:
        return json.loads(f.read())


def try_read_json(path):
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None
