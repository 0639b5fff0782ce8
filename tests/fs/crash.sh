#!/usr/bin/env bash
# crash.sh - kill -9 the daemon right after acknowledged enqueues, restart
# on the same data: each acknowledged message is processed exactly once,
# actors made with mkdir are still there, and the announcer helper died
# with the daemon (no process left behind on the dead mount).
. "$(dirname "$0")/../lib.sh"
af_start
C=$MNT/counter
assert_ok mkdir "$MNT/counter@kept"
echo '{"n": 5}' > "$MNT/counter@kept/queues/add/new" || fail "enqueue kept"

total=0
for round in 1 2 3; do
  for i in $(seq 1 100); do
    /bin/echo "{\"n\": $i}" > "$C/queues/add/new" || fail "enqueue $i"
    total=$((total + i))
  done
  children=$(pgrep -P "$AF_PID" | tr '\n' ' ')
  [ -n "$children" ] || fail "no helper process under the daemon"
  af_restart
  for c in $children; do
    wait_for 10 eval '! kill -0 $c 2>/dev/null' \
      || fail "process $c outlived the daemon: $(ps -o pid,stat,cmd -p $c)"
  done
  wait_for 60 eval '[ "$(jq .count "$C/state.json")" = $((round * 100)) ]' \
    || fail "round $round: $(cat "$C/state.json")"
  assert_eq "$(jq .total "$C/state.json")" "$total" "round $round total"
done
assert_ok test -d "$MNT/counter@kept"
wait_for 30 eval '[ "$(jq .total "$MNT/counter@kept/state.json")" = 5 ]' \
  || fail "counter@kept: $(cat "$MNT/counter@kept/state.json")"

af_stop_ok
af_pass
