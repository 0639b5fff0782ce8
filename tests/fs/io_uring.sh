#!/usr/bin/env bash
# io_uring.sh - --io-uring.  Where the kernel offers FUSE over io_uring
# (the fuse module's enable_uring, Linux 6.14+), the requests are served
# over it: the log says "on" and counts them at unmount, and messages,
# state, the tree, inotify and a restart behave as over /dev/fuse.  Where
# it does not, the log says why and /dev/fuse serves as before.  The test
# switches enable_uring itself when it can (root) and puts it back.
. "$(dirname "$0")/../lib.sh"
P=/sys/module/fuse/parameters/enable_uring
ORIG=
if [ -w "$P" ]; then
  ORIG=$(cat "$P")
fi
NM=$AF_TMP/null
restore() {
  local rc=$?
  if mountpoint -q "$NM" 2>/dev/null; then
    fusermount3 -u "$NM" 2>/dev/null || umount -l "$NM"
  fi
  if [ -n "$ORIG" ]; then
    echo "$ORIG" > "$P"
  fi
  (exit $rc)
  af__cleanup
}
trap restore EXIT
C=$MNT/counter

# The same things a user does, whichever way requests come.
exercise() {
  local n=$1
  for i in $(seq 1 "$n"); do
    echo '{"n": 1}' > "$C/queues/add/new" || fail "enqueue $i"
  done
  wait_for 30 eval '[ "$(jq .count "$C/state.json")" = "$COUNT" ]' \
    || fail "count $(cat "$C/state.json"), want $COUNT"
  ls "$C/steps" > /dev/null || fail "listing steps"
  out=$(/bin/echo -n '{"n": 1' 2>&1 > "$C/queues/add/new") \
    && fail "an incomplete message was taken"
  [[ $out == *"Invalid argument"* ]] || fail "incomplete message: $out"
  grep -q 'incomplete JSON' "$C/queues/add/error" \
    || fail "no reason for the incomplete message: $(cat "$C/queues/add/error")"
}

COUNT=0
if [ -n "$ORIG" ]; then
  echo Y > "$P"
  af_start --io-uring
  # Said once the kernel has taken INIT's reply, just after the mount.
  wait_for 10 grep -q 'requests over io_uring: on' "$LOG" \
    || fail "io_uring offered but not on: $(grep io_uring "$LOG")"
  COUNT=$((COUNT + 5))
  exercise 5
  # inotify sees what a workflow changes, as over /dev/fuse.
  W=$AF_TMP/watch.out
  inotifywait -m --format '%f %e' "$C" > "$W" 2>"$AF_TMP/watch.err" &
  wait_for 10 grep -q 'Watches established' "$AF_TMP/watch.err" \
    || fail "inotifywait did not start: $(cat "$AF_TMP/watch.err")"
  COUNT=$((COUNT + 20))
  exercise 20
  wait_for 10 grep -q 'state.json MODIFY' "$W" \
    || fail "inotify saw no change of state.json: $(cat "$W")"
  kill %inotifywait
  # A burst from several writers at once, more than the rings' threads.
  pids=()
  for w in $(seq 1 12); do
    ( for i in $(seq 1 10); do echo '{"n": 1}' > "$C/queues/add/new"; done ) &
    pids+=($!)
  done
  wait "${pids[@]}" || fail "a writer of the burst failed"
  COUNT=$((COUNT + 120))
  wait_for 60 eval '[ "$(jq .count "$C/state.json")" = "$COUNT" ]' \
    || fail "burst: count $(cat "$C/state.json"), want $COUNT"
  # Fresh threads (the burst above grew them).
  af_restart --io-uring
  # Requests that wait hold their threads; more start, so the others on
  # that CPU are still served: eight execs of `sleep 5` at once on CPU 0
  # all run (those that arrive before a new thread is registered too: a
  # burst ran 4 or 5 at once without the kick), and meanwhile a read from
  # CPU 0 answers at once.
  V=$MNT/vm@u
  assert_ok mkdir "$V"
  echo true > "$V/exec" || fail "first exec"
  pids=()
  for i in 1 2 3 4 5 6 7 8; do
    taskset -c 0 sh -c "echo 'sleep 5' > '$V/exec'" &
    pids+=($!)
  done
  wait_for 10 eval '[ "$(ps -eo args | grep -c "^sleep 5")" -ge 8 ]' \
    || fail "the eight execs did not all start: $(ps -eo args | grep -c "^sleep 5") ran"
  timeout 2 taskset -c 0 cat "$C/state.json" > /dev/null \
    || fail "a read waited behind the execs on its CPU"
  wait "${pids[@]}" || fail "an exec failed"
  COUNT=$((COUNT + 5))
  exercise 5
  af_stop_ok
  # A reply made on another thread than its request's (libfuse allows
  # it, actorfs never does): nullfs --reply-later answers writes so.
  mkdir -p "$NM"
  "${NULLFS_BIN:?NULLFS_BIN must name the nullfs binary}" --io-uring \
    --reply-later "$NM" 2> "$AF_TMP/nullfs.err" &
  npid=$!
  wait_for 10 mountpoint -q "$NM" || fail "nullfs did not mount"
  for i in $(seq 1 200); do
    echo x > "$NM/new" || fail "write $i answered from another thread"
  done
  fusermount3 -u "$NM" || fail "unmounting nullfs"
  wait "$npid" || fail "nullfs exit $?: $(cat "$AF_TMP/nullfs.err")"
  nserved=$(sed -n 's/.*io_uring on: .*, \([0-9]*\) served.*/\1/p' "$AF_TMP/nullfs.err")
  [ "${nserved:-0}" -ge 600 ] \
    || fail "nullfs over io_uring: $(cat "$AF_TMP/nullfs.err")"
  served=$(sed -n 's/.*requests over io_uring: \([0-9]*\) served.*/\1/p' "$LOG" | tail -n 1)
  # Five enqueues since the restart: open, write and flush each, at least.
  [ "${served:-0}" -ge 15 ] || fail "io_uring served ${served:-no} requests"
  echo N > "$P"
fi

# Not offered: said so, and /dev/fuse serves.  (Offered and not ours to
# switch off: nothing more to see.)
if [ -e "$P" ] && [ -z "$ORIG" ] && [ "$(cat "$P")" = Y ]; then
  af_pass
fi
af_start --io-uring
wait_for 10 grep -q 'requests over io_uring: off: the kernel does not offer it' "$LOG" \
  || fail "no reason given: $(grep io_uring "$LOG")"
COUNT=$((COUNT + 5))
exercise 5
af_stop_ok
grep -q 'requests over io_uring: 0 served' "$LOG" \
  || fail "served over io_uring while not offered: $(grep io_uring "$LOG")"
af_pass
