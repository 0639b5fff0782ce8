#!/usr/bin/env bash
# enqueue.sh - queues/NAME/: `new`, key files (idempotency), pending
# messages listed in order and readable, rm cancels, EBUSY once taken,
# writes in pieces, O_TRUNC, dup'd descriptors enqueue once.
. "$(dirname "$0")/../lib.sh"
af_start --load "$FSTEST_PLUGIN"
C=$MNT/counter
T=$MNT/fstest

# new: one message per close; a message arriving in several writes.
echo '{"n": 1}' > "$C/queues/add/new" || fail "echo > new"
python3 - "$C/queues/add/new" <<'PY' || fail "message in pieces"
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
for part in (b'{"n"', b': ', b'2', b'}\n'):
    os.write(fd, part)
os.close(fd)
PY
# dup'd descriptors share one message: enqueued once.
( exec 3>"$C/queues/add/new"; echo '{"n": 4}' >&3; exec 4>&3; exec 3>&-; exec 4>&- )
# A big message (300 KB, several WRITEs) is accepted whole.
python3 -c 'import json; print(json.dumps({"n": 8, "pad": "x" * 300000}))' \
  > "$AF_TMP/big.json"
cp "$AF_TMP/big.json" "$C/queues/add/new" || fail "cp big message"
wait_for 10 eval '[ "$(jq .count "$C/state.json")" = 4 ]' \
  || fail "want 4 messages: $(cat "$C/state.json")"
assert_eq "$(jq .total "$C/state.json")" 15 "total of 1+2+4+8"

# Key files: the name is the idempotency key.
echo '{"n": 16}' > "$AF_TMP/job.json"
cp "$AF_TMP/job.json" "$C/queues/add/" || fail "cp to a key"
out=$(cp "$AF_TMP/job.json" "$C/queues/add/" 2>&1) && fail "same key twice"
[[ $out == *"File exists"* ]] || fail "duplicate key: $out"
grep -q 'job.json' "$C/queues/add/error" || fail "error names the key"
wait_for 10 eval '[ "$(jq .count "$C/state.json")" = 5 ]' || fail "key msg"
out=$(cp "$AF_TMP/job.json" "$C/queues/add/" 2>&1) && fail "consumed key reused"
assert_eq "$(jq .total "$C/state.json")" 31 "a key enqueues once"

# Pending messages (fstest's hold queue is only taken on demand).
for i in 1 2 3; do
  echo "{\"id\": \"h$i\"}" > "$T/queues/hold/new" || fail "hold $i"
done
assert_eq "$(ls "$T/queues/hold" | grep -c '\.json$')" 3 "three pending"
mapfile -t pend < <(ls "$T/queues/hold" | grep '\.json$' | sort -n)
assert_eq "$(jq -r .id "$T/queues/hold/${pend[0]}")" h1 "first pending"
assert_eq "$(jq -r .id "$T/queues/hold/${pend[2]}")" h3 "third pending"
out=$(echo '{}' 2>&1 > "$T/queues/hold/${pend[0]}") && fail "pending is writable"
[[ $out == *"Permission denied"* ]] || fail "pending write: $out"
# rm cancels a pending message.
assert_ok rm "$T/queues/hold/${pend[1]}"
assert_eq "$(ls "$T/queues/hold" | grep -c '\.json$')" 2 "rm cancelled one"
# Taken messages: rm is EBUSY.
echo '{"take": true}' > "$T/queues/go/new"
wait_for 10 eval '[ "$(jq -r .held.id "$T/state.json")" = h1 ]' \
  || fail "h1 not taken: $(cat "$T/state.json")"
wait_for 5 eval '! ls "$T/queues/hold" | grep -qx "${pend[0]}"' \
  || fail "taken message still listed"
busy() { out=$(rm "$T/queues/hold/${pend[0]}" 2>&1); [[ $out == *"Device or resource busy"* ]]; }
wait_for 5 busy || fail "rm of a taken message: $out"
grep -q 'taken' "$T/queues/hold/error" || fail "EBUSY reason: $(cat "$T/queues/hold/error")"
echo '{"take": true}' > "$T/queues/go/new"
wait_for 10 eval '[ "$(jq -r .held.id "$T/state.json")" = h3 ]' \
  || fail "h2 was cancelled, h3 is next: $(cat "$T/state.json")"

af_stop_ok
af_pass
