#!/usr/bin/env bash
# names.sh - names users supply (keys, TYPE@KEY, key files) cannot
# traverse or inject: "..", control characters, empty parts and very long
# names are refused with EINVAL / ENOENT / ENAMETOOLONG.
. "$(dirname "$0")/../lib.sh"
af_start
C=$MNT/counter
Q=$C/queues/add

refused() { # refused NAME-OF-CHECK EXPECTED-TEXT CMD...
  local what=$1 want=$2
  shift 2
  out=$("$@" 2>&1) && fail "$what succeeded"
  [[ $out == *"$want"* ]] || fail "$what: $out"
}
refused "mkdir counter@.." "Invalid argument" mkdir "$MNT/counter@.."
refused "mkdir counter@" "Invalid argument" mkdir "$MNT/counter@"
refused "mkdir @key" "Invalid argument" mkdir "$MNT/@key"
refused "mkdir with a tab" "Invalid argument" mkdir "$MNT/counter@a$(printf '\t')b"
refused "mkdir with a newline" "Invalid argument" mkdir "$MNT/counter@a
b"
refused "mkdir with a 210-byte key" "File name too long" \
  mkdir "$MNT/counter@$(printf 'k%.0s' $(seq 210))"
refused "mkdir with a 300-byte name" "File name too long" \
  mkdir "$MNT/counter@$(printf 'k%.0s' $(seq 300))"
refused "key file with a control character" "Invalid argument" \
  bash -c "echo '{\"n\": 1}' > '$Q/k$(printf '\001')'"
refused "key file of 250 bytes" "File name too long" \
  bash -c "echo '{\"n\": 1}' > '$Q/$(printf 'k%.0s' $(seq 250))'"
assert_eq "$(jq .count "$C/state.json")" 0 "nothing enqueued"
grep -q 'a\\x09b' "$LOG" || fail "a tab in a name is shown escaped in the log"
grep -q '^b refused' "$LOG" && fail "a newline in a name forged a log line"
# Whatever the spelling, a path stays inside the mount.
assert_eq "$(cat "$C/../counter/./type")" counter "dot components"
refused "unknown actor" "No such file" cat "$MNT/counter@nobody/type"
assert_eq "$(ls "$MNT" | grep -c '\.\.')" 0 "nothing odd listed"
# A good unusual key works.
assert_ok mkdir "$MNT/counter@a.b-c_d e"
assert_eq "$(cat "$MNT/counter@a.b-c_d e/type")" counter "key with punctuation"

af_stop_ok
af_pass
