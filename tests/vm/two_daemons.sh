#!/usr/bin/env bash
# two_daemons.sh - a daemon's VM backend must not keep another daemon's
# mount alive: each VM loop starts from a copy of the host's mounts, and a
# FUSE daemon only learns it was unmounted when the last copy goes.  So
# with a second actorfs started after the first, unmounting the first
# still ends it at once.
. "$(dirname "$0")/../lib.sh"

af_start
mnt2=$AF_TMP/mnt2 data2=$AF_TMP/data2
mkdir -p "$mnt2" "$data2"
"$ACTORFS_BIN" "$mnt2" --data "$data2" -f 2>>"$LOG" &
pid2=$!
stop2() {
  fusermount3 -u "$mnt2" 2>/dev/null
  if ! wait_for 30 eval '! kill -0 $pid2 2>/dev/null'; then
    kill -KILL "$pid2" 2>/dev/null
    fusermount3 -uz "$mnt2" 2>/dev/null
  fi
}
trap 'stop2; af__cleanup' EXIT
wait_for 20 grep -qs " $mnt2 fuse" /proc/self/mounts || fail "the second daemon did not mount"
mkdir "$mnt2/vm@other" || fail "mkdir vm@other on the second daemon"

# No thread of the second daemon (its VM loop has a mount namespace of its
# own) keeps a copy of the first daemon's mount.
for t in /proc/$pid2/task/*; do
  if grep -qs " $MNT " "$t/mountinfo"; then
    fail "thread ${t##*/} of the second daemon holds a copy of $MNT"
  fi
done

# The first daemon exits on its unmount, though the second started after it.
fusermount3 -u "$MNT" || fail "fusermount3 -u $MNT failed"
wait_for 5 eval '! af__alive' || fail "the first daemon did not exit on its unmount"
wait "$AF_PID"
assert_eq "$?" 0 "the first daemon's exit code"
AF_PID=

stop2
wait "$pid2"
assert_eq "$?" 0 "the second daemon's exit code"
af_pass
