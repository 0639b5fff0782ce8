#!/usr/bin/env bash
# Names users supply cannot traverse or inject: actor keys (mkdir
# TYPE@KEY), idempotency keys (file names in queues/NAME/) and queue
# names.  "..", ".", control characters (a newline must not forge a log
# or events line), names over 200 bytes (ENAMETOOLONG) are refused with
# nothing created; a 200-byte name and UTF-8 names work.  NUL cannot be
# typed in a path at all, so it needs no test here (the fuzzer covers the
# C entry points).
. "$(dirname "$0")/../lib.sh"
# /usr/bin first: a version manager's shim on PATH can cost seconds a start.
PY=$(command -v /usr/bin/python3 || command -v python3)

af_start
q=$MNT/counter/queues/add
msg='{"n":1}'
nl=$'evil\nFORGED: counter consumed everything'
long=$(printf 'k%.0s' $(seq 1 230))
max=$(printf 'm%.0s' $(seq 1 200))
before=$(ls "$MNT")

# errno of a command, via python so the reason is exact.
errno_of() {
  "$PY" - "$@" <<'PY'
import errno, os, sys
op, path = sys.argv[1], sys.argv[2]
try:
    if op == "mkdir":
        os.mkdir(path)
    else:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, b'{"n":1}\n')
        os.close(fd)
    print("OK")
except OSError as e:
    print(errno.errorcode[e.errno])
PY
}

tmp_before=$(ls -A "$AF_TMP")

# Actor keys.
for key in ".." "." "$nl" $'tab\there' $'esc\033[31m'; do
  assert_eq "$(errno_of mkdir "$MNT/counter@$key")" EINVAL "mkdir counter@$(printf %q "$key")"
done
assert_eq "$(errno_of mkdir "$MNT/counter@$long")" ENAMETOOLONG "mkdir with a 230-byte key"
assert_eq "$(errno_of mkdir "$MNT/counter@$max")" OK "mkdir with a 200-byte key"
assert_eq "$(errno_of mkdir "$MNT/counter@é-ключ")" OK "mkdir with a UTF-8 key"
assert_eq "$(errno_of mkdir "$MNT/nosuchtype@x")" ENOENT "mkdir of an unknown type"
got=$(errno_of mkdir "$MNT/vm@..")
case $got in EINVAL|ENOENT) ;; *) fail "mkdir vm@.. (a VM root outside DATA/vm): $got" ;; esac
assert_eq "$(ls "$MNT" | grep -c '^counter@')" 2 "counter instances after the refusals"

# Idempotency keys.
for key in "$nl" $'cr\rkey' $'esc\033key'; do
  got=$(errno_of write "$q/$key")
  [ "$got" != OK ] || fail "enqueue with key $(printf %q "$key") succeeded"
done
assert_eq "$(errno_of write "$q/$long")" ENAMETOOLONG "enqueue with a 230-byte key"
assert_eq "$(errno_of write "$q/$max")" OK "enqueue with a 200-byte key"
assert_eq "$(errno_of write "$q/$max")" EEXIST "the same 200-byte key again"
got=$(errno_of write "$q/../../state.json")
case $got in EACCES|EPERM|EROFS) ;; *) fail "a key climbing to state.json: $got" ;; esac
wait_for 10 sh -c "[ \"\$(jq .count '$MNT/counter/state.json')\" = 1 ]" \
  || fail "count is $(jq .count "$MNT/counter/state.json"), want 1 (only the 200-byte key)"
assert_eq "$(jq -cS . "$MNT/counter/state.json")" '{"count":1,"total":1}' "counter state"

# Queue names: no queue can be made up or reached by traversal.
assert_fails mkdir "$MNT/counter/queues/evil" 2>/dev/null
assert_fails sh -c "echo '$msg' > '$MNT/counter/queues/nosuch/new'" 2>/dev/null
assert_fails sh -c "echo '$msg' > '$MNT/counter/queues/..new'" 2>/dev/null

# No refused name forged a line in the log or in the events file.
for f in "$LOG" "$DATA/actorfs.log" "$MNT/counter/events"; do
  [ -f "$f" ] || continue
  if grep -q '^FORGED' "$f"; then
    fail "a newline in a name forged a line in $f"
  fi
done
jq -c . "$MNT/counter/events" >/dev/null || fail "events is not clean JSON lines"
assert_eq "$(ls -A "$AF_TMP")" "$tmp_before" "files beside the data dir after the refusals"
assert_eq "$(ls "$MNT" | grep -v '^counter@' | sort)" \
  "$(echo "$before" | grep -v '^counter@' | sort)" "top-level entries after the refusals"
af_stop_ok
af_pass
