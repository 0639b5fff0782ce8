#!/usr/bin/env bash
# actions.sh - actions/: `cat` runs an action with no arguments; an action
# with arguments is a transaction file: write the JSON arguments, read the
# result from the same descriptor from its first byte whatever the offset,
# then end of file; two descriptors never see each other's responses.
. "$(dirname "$0")/../lib.sh"
af_start --load "$FSTEST_PLUGIN"
T=$MNT/fstest

assert_eq "$(ls "$T/actions" | tr '\n' ' ')" "echo peek setFail " "actions/"
assert_eq "$(jq -c . "$T/actions/peek")" '{"n":0}' "cat actions/peek"
assert_eq "$(jq -c . "$T/actions/echo")" '{"args":null}' "cat without args"

python3 - "$T/actions/echo" <<'PY' || fail "transaction file"
import json, os, sys
path = sys.argv[1]
a = os.open(path, os.O_RDWR)
b = os.open(path, os.O_RDWR)
os.write(a, b'{"who": "a", "list": [1, 2]}')
os.write(b, b'{"who": "b"}')
# The offset is past the request: the response still starts at byte 0.
ra = os.read(a, 1 << 16)
rb = os.read(b, 1 << 16)
assert json.loads(ra) == {"args": {"who": "a", "list": [1, 2]}}, ra
assert json.loads(rb) == {"args": {"who": "b"}}, rb
assert ra.endswith(b"\n"), ra
assert os.read(a, 100) == b"", "then end of file"
# A new request on the same descriptor is a new transaction.
os.write(a, b'{"again": true}')
assert json.loads(os.read(a, 1 << 16)) == {"args": {"again": True}}
os.close(a)
os.close(b)
# Python's own buffered file object, as a user would write it.
with open(path, "r+") as f:
    f.write('{"x": 1}')
    f.flush()
    assert json.loads(f.read()) == {"args": {"x": 1}}
PY

# Invalid JSON arguments: EINVAL from write(), reason in the actor's error.
out=$(bash -c "echo '{nope' > '$T/actions/echo'" 2>&1) && fail "bad args taken"
[[ $out == *"write error: Invalid argument"* ]] || fail "bad args: $out"
grep -q 'echo' "$T/error" || fail "reason: $(cat "$T/error")"
# An action that refuses its arguments: the read fails, the reason is kept.
python3 - "$T/actions/setFail" <<'PY' || fail "failing action"
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.write(fd, b'{"on": "maybe"}')
try:
    os.read(fd, 4096)
except OSError as e:
    assert e.errno == errno.EINVAL, e
else:
    raise SystemExit("the refused action read succeeded")
PY
grep -q 'setFail wants' "$T/error" || fail "action reason: $(cat "$T/error")"
# An action without arguments is read-only.
out=$(bash -c "echo '{}' > '$T/actions/peek'" 2>&1) && fail "peek written"
[[ $out == *"Permission denied"* ]] || fail "peek: $out"

af_stop_ok
af_pass
