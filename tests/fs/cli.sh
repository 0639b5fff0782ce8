#!/usr/bin/env bash
# cli.sh - the command line: --help (exit 0, documents the exit codes),
# usage errors (exit 100), system errors (exit 111: a bad --load with its
# dlerror, a missing mount point), daemon mode (returns once mounted, logs
# to DATA/actorfs.log) and the default data directory.
. "$(dirname "$0")/../lib.sh"

out=$("$ACTORFS_BIN" --help) || fail "--help exit $?"
[[ $out == *"usage: actorfs MOUNTPOINT"* ]] || fail "--help: $out"
[[ $out == *"100 usage"* && $out == *"111 system"* ]] || fail "exit codes: $out"
for o in --data --load --durability --agent --max-message-bytes --vm-net \
         --vm-ro --agents-conf -f -o; do
  [[ $out == *"$o"* ]] || fail "--help does not mention $o"
done

usage() { # usage ARGS... : must exit 100 with a reason
  out=$("$ACTORFS_BIN" "$@" 2>&1)
  local rc=$?
  assert_eq "$rc" 100 "exit code of actorfs $*"
  [[ $out == actorfs:* ]] || fail "no reason for $*: $out"
}
usage
usage "$MNT" --durability fast
usage "$MNT" --bogus
usage "$MNT" "$MNT"
usage "$MNT" --max-message-bytes 0
usage "$MNT" --agent noequals
usage "$MNT" --vm-ro repo=/tmp
usage "$MNT" --data

out=$("$ACTORFS_BIN" "$MNT" --data "$DATA" -f --load "$AF_TMP/nope.so" 2>&1)
assert_eq "$?" 111 "exit code of a bad --load"
[[ $out == *"nope.so"*"cannot open shared object file"* ]] || fail "dlerror: $out"
af_mounted && fail "mounted despite the failure"
out=$("$ACTORFS_BIN" "$AF_TMP/no/such/dir" --data "$DATA" -f 2>&1)
assert_eq "$?" 111 "exit code for a missing mount point"

# Daemon mode: returns once the mount is up; the log goes to DATA; a
# relative --load still works although the daemon runs from /.
(cd "$(dirname "$FSTEST_PLUGIN")" &&
  "$ACTORFS_BIN" "$MNT" --data "$DATA" --load "./$(basename "$FSTEST_PLUGIN")") \
  || fail "daemon start exit $?"
af_mounted || fail "the daemon returned before mounting"
assert_eq "$(cat "$MNT/counter/type")" counter "daemon serves"
assert_eq "$(cat "$MNT/fstest/type")" fstest "relative --load in daemon mode"
grep -q 'mounted on' "$DATA/actorfs.log" || fail "no log in DATA/actorfs.log"
dpid=$(pgrep -f -- "$ACTORFS_BIN $MNT --data" | head -n 1)
[ -n "$dpid" ] || fail "no daemon process"
fusermount3 -u "$MNT" || fail "fusermount3 -u"
wait_for 30 eval '! kill -0 $dpid 2>/dev/null' || fail "the daemon did not exit"
grep -q 'unmounted' "$DATA/actorfs.log" || fail "no clean-exit line"
grep -q 'LeakSanitizer' "$DATA/actorfs.log" && fail "leak in daemon mode"
# A daemon that fails says why on the terminal and exits 111.
out=$("$ACTORFS_BIN" "$MNT" --data "$DATA" --load "$AF_TMP/nope.so" 2>&1)
assert_eq "$?" 111 "daemon-mode failure"
[[ $out == *"nope.so"* ]] || fail "daemon-mode reason: $out"

# Default data dir: $XDG_STATE_HOME/actorfs, else ~/.local/state/actorfs.
mkdir -p "$AF_TMP/home" "$AF_TMP/xdg"
for v in home xdg; do
  if [ $v = home ]; then
    env -u XDG_STATE_HOME HOME="$AF_TMP/home" "$ACTORFS_BIN" "$MNT" -f 2>>"$LOG" &
    want=$AF_TMP/home/.local/state/actorfs
  else
    HOME="$AF_TMP/home" XDG_STATE_HOME="$AF_TMP/xdg" "$ACTORFS_BIN" "$MNT" -f 2>>"$LOG" &
    want=$AF_TMP/xdg/actorfs
  fi
  AF_PID=$!
  wait_for 20 af_mounted || fail "no mount with the default data dir ($v)"
  af_stop_ok
  ls "$want" | grep -q 'actorfs.db' || fail "no database in $want: $(ls -R "$AF_TMP/$v")"
done
af_pass
