#!/usr/bin/env bash
# concurrent.sh - 8 writers x 500 messages through the mount, at once:
# every message is processed exactly once (count 4000, total matches).
. "$(dirname "$0")/../lib.sh"
af_start
C=$MNT/counter
W=8
N=500

for w in $(seq 0 $((W - 1))); do
  (
    for i in $(seq 1 $N); do
      echo "{\"n\": $((w * 1000 + i))}" > "$C/queues/add/new" || exit 1
    done
  ) &
  pids+=($!)
done
for p in "${pids[@]}"; do
  wait "$p" || fail "a writer failed"
done
want_total=$(( N * (N + 1) / 2 * W + N * 1000 * (W * (W - 1) / 2) ))
wait_for 400 eval '[ "$(jq .count "$C/state.json")" = $((W * N)) ]' \
  || fail "count: $(cat "$C/state.json")"
assert_eq "$(jq .total "$C/state.json")" "$want_total" "total"
assert_eq "$(ls "$C/queues/add" | grep -c json)" 0 "nothing left pending"

af_stop_ok
af_pass
