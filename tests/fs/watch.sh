#!/usr/bin/env bash
# watch.sh - SPEC section 3: `inotifywait -m -r` on an actor sees IN_CREATE
# in steps/ for new entries and iteration directories (IN_ISDIR, so -r
# follows), IN_MODIFY on state.json, status and events, and IN_CREATE /
# IN_DELETE in queues/NAME/ as messages arrive and are taken; within
# 100 ms of the engine's change.  A watcher of one queue directory that
# never lists it sees its messages too.
. "$(dirname "$0")/../lib.sh"
af_start
C=$MNT/counter
W=$AF_TMP/watch.out

echo '{"n": 1}' > "$C/queues/add/new"
wait_for 10 eval '[ -d "$C/steps/add-loop/1" ]' || fail "first message"
inotifywait -m -r --format '%w%f %e' "$C" > "$W" 2>"$AF_TMP/watch.err" &
wait_for 10 grep -q 'Watches established' "$AF_TMP/watch.err" \
  || fail "inotifywait did not start: $(cat "$AF_TMP/watch.err")"

echo '{"n": 2}' > "$C/queues/add/new"
wait_for 10 eval '[ "$(jq .count "$C/state.json")" = 2 ]' || fail "second"
seen() { grep -q -- "$1" "$W"; }
for want in "queues/add/[0-9]*.json CREATE" "queues/add/[0-9]*.json DELETE" \
            "steps/add-loop/1/add CREATE" "steps/add-loop/2 CREATE,ISDIR" \
            "state.json MODIFY" "status MODIFY" "events MODIFY"; do
  wait_for 5 seen "$C/$want" || fail "no '$want' event; got: $(cat "$W")"
done
# -r followed into the new iteration directory: its wait-add shows up
# either as an event or, if it came first, as already there.
assert_ok test -e "$C/steps/add-loop/2/wait-add"

# Latency: IN_MODIFY of state.json within 100 ms of the engine's change
# (the "ts" of its state.changed line in events), median of 5.
python3 - "$C" <<'PY' || fail "latency"
import json, os, select, subprocess, sys, time
c = sys.argv[1]
p = subprocess.Popen(["inotifywait", "-m", "-e", "modify", "--format", "%f",
                      c], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
deadline = time.monotonic() + 10
while b"Watches established" not in p.stderr.readline():
    assert time.monotonic() < deadline, "inotifywait did not start"
def line(deadline):
    buf = b""
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        assert left > 0, "no event in time"
        if select.select([p.stdout], [], [], left)[0]:
            buf += os.read(p.stdout.fileno(), 1)
    return buf.decode().strip()
delays = []
for i in range(5):
    with open(os.path.join(c, "queues/add/new"), "w") as f:
        f.write('{"n": 1}')
    deadline = time.monotonic() + 10
    while line(deadline) != "state.json":
        pass
    seen = time.time() * 1000
    with open(os.path.join(c, "events")) as f:
        ts = [json.loads(l)["ts"] for l in f if '"state.changed"' in l]
    delays.append(seen - ts[-1])
p.kill()
delays.sort()
print("engine change -> IN_MODIFY(state.json): median %.1f ms, max %.1f ms"
      % (delays[2], delays[-1]))
assert delays[2] < 100, delays
PY

# A watcher that does not list (inotifywait without -r on one queue of a
# new actor) is seen by its lookups: it sees messages arrive and go.
mkdir "$MNT/counter@w"
W2=$AF_TMP/watch2.out
inotifywait -m --format '%f %e' "$MNT/counter@w/queues/add" > "$W2" \
  2>"$AF_TMP/watch2.err" &
wait_for 10 grep -q 'Watches established' "$AF_TMP/watch2.err" \
  || fail "inotifywait did not start: $(cat "$AF_TMP/watch2.err")"
echo '{"n": 3}' > "$MNT/counter@w/queues/add/new"
for want in "[0-9]*.json CREATE" "[0-9]*.json DELETE"; do
  wait_for 5 grep -q -- "$want" "$W2" \
    || fail "queue watcher: no '$want'; got: $(cat "$W2")"
done

af_stop_ok
af_pass
