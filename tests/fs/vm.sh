#!/usr/bin/env bash
# vm.sh - VM actors: mkdir vm@NAME; fs/ is a read-write passthrough of the
# VM root confined beneath it (no "..", absolute symlink or rename gets
# out); exec is a transaction file (command line in, JSON result out, and
# `echo CMD > exec` runs too); sessions/ lists agent sessions read-only.
. "$(dirname "$0")/../lib.sh"
af_start
V=$MNT/vm@t

assert_ok mkdir "$V"
assert_eq "$(ls "$V" | tr '\n' ' ')" "error exec fs sessions state.json status type " "vm@t/"
assert_eq "$(cat "$V/type")" vm "type"
jq -e . "$V/state.json" >/dev/null || fail "state.json"
wait_for 10 eval '[ -d "$V/fs/home/user" ]' || fail "no home: $(ls -R "$V/fs" 2>&1)"
ROOT=$DATA/vm/t/root
assert_ok test -d "$ROOT/home/user"

# Read-write passthrough.
assert_ok mkdir -p "$V/fs/home/user/d/e"
echo hello > "$V/fs/home/user/d/a.txt" || fail "write"
assert_eq "$(cat "$ROOT/home/user/d/a.txt")" hello "on disk"
assert_eq "$(cat "$V/fs/home/user/d/a.txt")" hello "read back"
echo more >> "$V/fs/home/user/d/a.txt"
assert_eq "$(wc -l < "$V/fs/home/user/d/a.txt")" 2 "append"
assert_ok mv "$V/fs/home/user/d" "$V/fs/home/user/moved"
assert_eq "$(cat "$V/fs/home/user/moved/a.txt" | head -n 1)" hello "renamed dir"
echo x > "$V/fs/home/user/moved/e/b" || fail "write under a renamed dir"
assert_eq "$(cat "$ROOT/home/user/moved/e/b")" x "renamed dir's child"
assert_ok chmod 600 "$V/fs/home/user/moved/a.txt"
assert_eq "$(stat -c %a "$ROOT/home/user/moved/a.txt")" 600 "chmod"
truncate -s 2 "$V/fs/home/user/moved/a.txt" || fail "truncate"
assert_eq "$(cat "$ROOT/home/user/moved/a.txt")" he "truncated"
assert_ok rm -r "$V/fs/home/user/moved"
assert_ok test ! -e "$ROOT/home/user/moved"

# Confinement.
echo secret > "$AF_TMP/outside"
# Symlinks mean what they mean in the VM: shown relative to fs/, with
# absolute targets from the VM root and ".." stopping at it.
ln -s "$AF_TMP/outside" "$V/fs/home/user/abs" || fail "symlink"
assert_eq "$(readlink "$ROOT/home/user/abs")" "$AF_TMP/outside" "stored as is"
assert_eq "$(readlink "$V/fs/home/user/abs")" "../..${AF_TMP}/outside" \
  "shown from the VM root"
ln -s /home/user/target "$V/fs/home/user/inside"
echo in > "$V/fs/home/user/target"
assert_eq "$(cat "$V/fs/home/user/inside")" in "an absolute VM link works"
out=$(cat "$V/fs/home/user/abs" 2>&1) && fail "absolute symlink followed: $out"
ln -s ../../../../../../../../../"$AF_TMP/outside" "$V/fs/home/user/rel"
out=$(cat "$V/fs/home/user/rel" 2>&1) && fail "relative escape followed: $out"
out=$(bash -c "echo pwned > '$V/fs/home/user/abs'" 2>&1) && fail "write through symlink"
assert_eq "$(cat "$AF_TMP/outside")" secret "outside untouched"
ln -s "$AF_TMP" "$V/fs/home/user/dirlink"
out=$(ls "$V/fs/home/user/dirlink/" 2>&1) && fail "dir symlink escaped: $out"
assert_ok mv "$V/fs/home/user/abs" "$V/fs/tmp/abs2"
out=$(mv "$V/fs/tmp/abs2" "$MNT/counter/" 2>&1) && fail "renamed out of the VM"
assert_eq "$(cat "$AF_TMP/outside")" secret "outside untouched"

# exec: a transaction file.
python3 - "$V/exec" <<'PY' || fail "exec transaction"
import json, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.write(fd, b"echo hi; echo oops >&2; exit 3\n")
r = json.loads(os.read(fd, 1 << 20))
assert r["exitCode"] == 3, r
assert r["stdout"] == "hi\n", r
assert r["stderr"] == "oops\n", r
assert r["timedOut"] is False, r
os.close(fd)
PY
echo 'echo made > /home/user/made' > "$V/exec"
assert_eq "$(cat "$V/fs/home/user/made")" made "echo CMD > exec runs CMD"
# What the user creates through fs/ belongs to the VM's user, so the VM
# can change it.
mkdir "$V/fs/home/user/mine" && echo one > "$V/fs/home/user/mine/f"
echo 'echo two >> /home/user/mine/f && touch /home/user/mine/g' > "$V/exec"
assert_eq "$(cat "$V/fs/home/user/mine/f" | tr '\n' ' ')" "one two " "the VM appends to a file made through fs/"
[ -e "$V/fs/home/user/mine/g" ] || fail "the VM creates in a directory made through fs/"
out=$(cat "$V/exec" 2>&1) && fail "reading exec without a command"
grep -q 'command line' "$V/error" || fail "exec reason: $(cat "$V/error")"
out=$(bash -c "echo x > '$V/state.json'" 2>&1) && fail "vm state.json written"

# sessions/: read-only views of the VM backend's session files, with
# their true size, so tail -f follows a transcript.
assert_eq "$(ls "$V/sessions" | wc -l)" 0 "no session yet"
S=$DATA/vm/t/sessions/s1
mkdir -p "$S"
echo '{"agent":"test","status":"open"}' > "$S/info"
echo '{"n":1}' > "$S/transcript"
assert_eq "$(ls "$V/sessions")" s1 "sessions/"
assert_eq "$(ls "$V/sessions/s1" | tr '\n' ' ')" "info transcript " "sessions/s1/"
assert_eq "$(jq -r .agent "$V/sessions/s1/info")" test "info"
tail -n +1 -f "$V/sessions/s1/transcript" > "$AF_TMP/tr.out" &
tailpid=$!
wait_for 10 grep -q '"n":1' "$AF_TMP/tr.out" || fail "tail -f transcript"
echo '{"n":2}' >> "$S/transcript"
wait_for 10 grep -q '"n":2' "$AF_TMP/tr.out" || fail "tail -f did not follow"
kill "$tailpid"
assert_eq "$(stat -c %s "$V/sessions/s1/transcript")" 16 "true size"
out=$(bash -c "echo x >> '$V/sessions/s1/transcript'" 2>&1) && fail "transcript written"
[[ $out == *"Permission denied"* ]] || fail "transcript write: $out"
assert_eq "$(ls "$V/sessions/nosuch" 2>&1 | grep -c 'No such file')" 1 "unknown session"

# rmdir vm@t destroys the idle VM actor.
assert_ok rmdir "$V"
wait_for 5 eval '[ ! -e "$V" ]' || fail "vm@t still there"

af_stop_ok
af_pass
