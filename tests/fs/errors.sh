#!/usr/bin/env bash
# errors.sh - every refusal of SPEC section 2 gives its errno, leaves its
# reason in the matching error file, and changes nothing:
# EINVAL in write() (invalid JSON, breaking the queue's fields), EINVAL at
# close (incomplete), EFBIG, EEXIST, EACCES (root writing read-only files),
# ENOENT, EBUSY (enqueue.sh), unknown ctl; no op answers ENOSYS.
. "$(dirname "$0")/../lib.sh"
af_start --max-message-bytes 1000
C=$MNT/counter
Q=$C/queues/add

# Invalid JSON: bash reports the write() error.
out=$(bash -c "echo '{\"n\": oops}' > '$Q/new'" 2>&1) && fail "invalid JSON accepted"
[[ $out == *"write error: Invalid argument"* ]] || fail "invalid JSON: $out"
grep -q 'invalid JSON' "$Q/error" || fail "error file: $(cat "$Q/error")"
grep -q 'invalid JSON' "$LOG" || fail "the log has the reason"
# Valid JSON breaking the declared fields: also in write().
out=$(bash -c "echo '{\"n\": \"seven\"}' > '$Q/new'" 2>&1) && fail "wrong type accepted"
[[ $out == *"write error: Invalid argument"* ]] || fail "wrong type: $out"
grep -q "'n'" "$Q/error" || fail "error names the field: $(cat "$Q/error")"
out=$(bash -c "echo '{}' > '$Q/new'" 2>&1) && fail "missing field accepted"
[[ $out == *"write error: Invalid argument"* ]] || fail "missing field: $out"

# Incomplete: accepted by write(), refused at close.
out=$(/bin/echo -n '{"n": 1' 2>&1 > "$Q/new") && fail "incomplete accepted"
[[ $out == *"Invalid argument"* ]] || fail "incomplete via /bin/echo: $out"
grep -q 'incomplete' "$Q/error" || fail "error file: $(cat "$Q/error")"
python3 - "$Q/new" <<'PY' || fail "python close() of an incomplete message"
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
assert os.write(fd, b'{"n": [1, 2') == 11
try:
    os.close(fd)
except OSError as e:
    assert e.errno == errno.EINVAL, e
else:
    raise SystemExit("close() returned 0")
PY

# Too big: EFBIG as soon as the buffer passes the limit.
python3 - "$Q/new" <<'PY' || fail "EFBIG"
import errno, os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.write(fd, b'{"n": 1, "pad": "' + b'x' * 900)
try:
    os.write(fd, b'x' * 200)
except OSError as e:
    assert e.errno == errno.EFBIG, e
else:
    raise SystemExit("write past the limit accepted")
try:
    os.close(fd)
except OSError:
    pass
PY
grep -q 'too big' "$Q/error" || fail "error file: $(cat "$Q/error")"

# Nothing of the above was enqueued.
assert_eq "$(jq -c . "$C/state.json")" '{"total":0,"count":0}' "no change"
assert_eq "$(ls "$Q" | grep -c json)" 0 "nothing pending"

# EEXIST for a used key.
echo '{"n": 1}' > "$Q/k1" || fail "key k1"
out=$(bash -c "echo '{\"n\": 1}' > '$Q/k1'" 2>&1) && fail "key reused"
[[ $out == *"File exists"* ]] || fail "EEXIST: $out"

# EACCES for root writing read-only files (checked in open, not by mode).
wait_for 10 eval '[ -e "$C/steps/add-loop/0/add" ]' || fail "no step yet"
for f in state.json status events type error actions/getState queues/add/error \
         steps/add-loop/0/add; do
  out=$(bash -c "echo x > '$C/$f'" 2>&1) && fail "root wrote $f"
  [[ $out == *"Permission denied"* ]] || fail "$f: $out"
done
grep -q 'read-only' "$C/error" || fail "actor error: $(cat "$C/error")"
out=$(truncate -s 0 "$C/state.json" 2>&1) && fail "truncate of state.json"

# ENOENT for unknown actors and types.
out=$(cat "$MNT/nosuch/state.json" 2>&1) && fail "unknown actor read"
[[ $out == *"No such file or directory"* ]] || fail "ENOENT: $out"
out=$(bash -c "echo '{}' > '$MNT/counter@nobody/queues/add/new'" 2>&1) \
  && fail "enqueue to an unknown actor"
[[ $out == *"No such file or directory"* ]] || fail "ENOENT actor: $out"
out=$(ls "$C/queues/nosuchqueue" 2>&1) && fail "unknown queue"

# Unknown ctl command: EINVAL from write(), reason in error.
out=$(bash -c "echo frobnicate > '$C/ctl'" 2>&1) && fail "unknown ctl accepted"
[[ $out == *"write error: Invalid argument"* ]] || fail "ctl: $out"
grep -q frobnicate "$C/error" || fail "ctl reason: $(cat "$C/error")"

# No operation answers "Function not implemented".
for cmd in "ln -s x $C/link" "ln $C/type $C/hard" "mv $C/type $C/type2" \
           "chmod 777 $C/state.json" "mknod $C/fifo p" "mkdir $C/sub" \
           "rmdir $C/steps" "rm $C/state.json" "touch $C/newfile" \
           "chown 1:1 $C/type"; do
  out=$($cmd 2>&1) && fail "$cmd succeeded"
  [[ $out == *"Function not implemented"* ]] && fail "$cmd: ENOSYS: $out"
done
touch "$C/ctl" || fail "touch of a writable file"

af_stop_ok
af_pass
