# tests/lib.sh - the shared library of the black-box shell tests.
#
# A test sources this file, calls af_start to mount the real actorfs binary
# ($ACTORFS_BIN) on a fresh temporary directory, drives the mount with the
# tools a user has (echo, cat, jq, inotifywait...) and ends with af_pass.
# Everything it starts is torn down on EXIT, whatever happened, so a failed
# test never leaves a mount or a daemon behind.  Waiting is always "poll a
# condition until a deadline", never a bare sleep.
#
# Variables after sourcing:
#   AF_TMP   the test's private directory (removed on exit)
#   MNT      the mount point             DATA  the data directory
#   LOG      the daemon's stderr (its log; printed when a test fails)
#   AF_PID   the daemon's pid            AF_RC the exit code af_stop saw
#
# Functions:
#   af_start [ARGS...]      mount (foreground daemon, -f) with extra ARGS
#                           (and --io-uring when ACTORFS_TEST_IO_URING=1)
#   af_stop                 fusermount3 -u, wait for the daemon; sets AF_RC
#   af_stop_ok              af_stop and fail unless it exited 0 (so an
#                           ASan/LSan report, which exits non-zero, fails)
#   af_term                 SIGTERM the daemon, wait; sets AF_RC
#   af_kill9                kill -9 the daemon and clear the stale mount
#   af_restart [ARGS...]    af_kill9, then af_start on the same DATA
#   wait_for SECS CMD...    poll CMD (every 20 ms) until it succeeds or
#                           SECS pass; returns 1 on timeout
#   fail MSG...             print MSG and the log, exit 1
#   assert_eq GOT WANT MSG  fail unless GOT == WANT
#   assert_ok CMD...        fail unless CMD succeeds
#   assert_fails CMD...     fail unless CMD fails
#   af_pass                 print PASS and exit 0

set -u

: "${ACTORFS_BIN:?ACTORFS_BIN must name the actorfs binary}"

AF_TMP=$(mktemp -d "${TMPDIR:-/tmp}/actorfs-test.XXXXXX")
MNT=$AF_TMP/mnt
DATA=$AF_TMP/data
LOG=$AF_TMP/actorfs.log
AF_PID=
AF_RC=
AF_ARGS=()
mkdir -p "$MNT" "$DATA"

# An ASan build reports leaks at exit; make that an error the test sees.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

af_mounted() {
  grep -qs " $MNT fuse" /proc/self/mounts
}

af__alive() {
  [ -n "$AF_PID" ] && kill -0 "$AF_PID" 2>/dev/null
}

af__cleanup() {
  local rc=$?
  if af_mounted; then
    fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null \
      || umount -l "$MNT" 2>/dev/null
  fi
  if af__alive; then
    kill -TERM "$AF_PID" 2>/dev/null
    wait_for 5 eval '! af__alive' || kill -KILL "$AF_PID" 2>/dev/null
  fi
  jobs -p | xargs -r kill 2>/dev/null
  if [ $rc -ne 0 ] && [ -f "$LOG" ]; then
    echo "---- actorfs log ($LOG) ----" >&2
    tail -n 60 "$LOG" >&2
  fi
  if ! af_mounted; then
    rm -rf --one-file-system "$AF_TMP"
  fi
  exit $rc
}
trap af__cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "FAIL: $*" >&2
  exit 1
}

wait_for() {
  local secs=$1
  shift
  local deadline=$(( $(date +%s%N) + secs * 1000000000 ))
  while :; do
    if "$@"; then
      return 0
    fi
    if [ "$(date +%s%N)" -ge "$deadline" ]; then
      return 1
    fi
    sleep 0.02
  done
}

assert_eq() {
  if [ "$1" != "$2" ]; then
    fail "$3: got '$1', want '$2'"
  fi
}

assert_ok() {
  "$@" || fail "command failed: $*"
}

assert_fails() {
  if "$@"; then
    fail "command should have failed: $*"
  fi
}

af_start() {
  AF_ARGS=("$@")
  if [ "${ACTORFS_TEST_IO_URING:-0}" = 1 ]; then
    AF_ARGS+=(--io-uring)
  fi
  "$ACTORFS_BIN" "$MNT" --data "$DATA" -f "${AF_ARGS[@]}" 2>>"$LOG" &
  AF_PID=$!
  local deadline=$(( $(date +%s%N) + 20 * 1000000000 ))
  until af_mounted; do
    if ! af__alive; then
      wait "$AF_PID"
      AF_RC=$?
      fail "actorfs exited with $AF_RC before mounting"
    fi
    if [ "$(date +%s%N)" -ge "$deadline" ]; then
      fail "actorfs did not mount within 20 s"
    fi
    sleep 0.02
  done
}

af__wait_exit() {
  if ! wait_for 60 eval '! af__alive'; then
    fail "actorfs (pid $AF_PID) did not exit within 60 s"
  fi
  wait "$AF_PID"
  AF_RC=$?
  AF_PID=
}

af_stop() {
  # Busy while a request is in flight, like any mount: retry a while.
  wait_for 10 fusermount3 -u "$MNT" 2>/dev/null \
    || fusermount3 -u "$MNT" || fail "fusermount3 -u $MNT failed"
  af__wait_exit
}

af_stop_ok() {
  af_stop
  assert_eq "$AF_RC" 0 "actorfs exit code after a clean unmount"
}

af_term() {
  kill -TERM "$AF_PID" || fail "cannot signal actorfs"
  af__wait_exit
}

af_kill9() {
  kill -KILL "$AF_PID" 2>/dev/null
  wait "$AF_PID" 2>/dev/null
  AF_PID=
  if af_mounted; then
    fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" \
      || fail "cannot clear the stale mount"
  fi
}

af_restart() {
  af_kill9
  af_start "$@"
}

af_pass() {
  echo "PASS: $(basename "$0")"
  exit 0
}
