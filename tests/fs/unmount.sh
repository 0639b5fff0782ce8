#!/usr/bin/env bash
# unmount.sh - clean shutdown: SIGTERM, SIGINT and fusermount3 -u each end
# the daemon with exit 0 (an ASan build exits non-zero on a leak, so this
# also proves nothing leaks) and lose nothing acknowledged.
. "$(dirname "$0")/../lib.sh"
C=$MNT/counter
n=0
for how in term int fusermount; do
  af_start
  echo '{"n": 1}' > "$C/queues/add/new" || fail "enqueue before $how"
  n=$((n + 1))
  case $how in
    term) af_term ;;
    int) kill -INT "$AF_PID"; af__wait_exit ;;
    fusermount) af_stop ;;
  esac
  assert_eq "$AF_RC" 0 "exit code after $how"
  af_mounted && fail "still mounted after $how"
  grep -q 'ERROR: LeakSanitizer' "$LOG" && fail "leaks reported after $how"
done
af_start
wait_for 30 eval '[ "$(jq .count "$C/state.json")" = $n ]' \
  || fail "lost a message over clean restarts: $(cat "$C/state.json")"
af_stop_ok
af_pass
