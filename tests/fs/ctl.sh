#!/usr/bin/env bash
# ctl.sh - the ctl file: retry re-runs a failed workflow from its failed
# step, cancel and restart; a command that does not apply is EINVAL with
# its reason in the actor's error file.
. "$(dirname "$0")/../lib.sh"
af_start --load "$FSTEST_PLUGIN"
T=$MNT/fstest
setfail() {
  python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDWR); os.write(fd, sys.argv[2].encode()); os.read(fd, 100)' \
    "$T/actions/setFail" "{\"on\": $1}" || fail "setFail $1"
}
status() { jq -r .status "$T/status"; }

setfail true
echo '{"fail": true, "tag": 1}' > "$T/queues/go/new" || fail "enqueue"
wait_for 15 eval '[ "$(status)" = failed ]' || fail "no failure: $(cat "$T/status")"
assert_eq "$(jq -c .error "$T/status" | grep -c 'on purpose')" 1 \
  "status keeps the error"
# retry while it still fails: fails again.
echo retry > "$T/ctl" || fail "retry accepted"
wait_for 15 eval '[ "$(status)" = failed ]' || fail "retry did not fail again"
setfail false
echo retry > "$T/ctl" || fail "second retry"
wait_for 15 eval '[ "$(status)" = waiting ]' || fail "retry: $(cat "$T/status")"
assert_eq "$(jq -r .last.tag "$T/state.json")" 1 "the step ran on retry"
# A command that does not apply now (retry while waiting) is EINVAL.
out=$(bash -c "echo retry > '$T/ctl'" 2>&1) && fail "retry while waiting"
[[ $out == *"write error: Invalid argument"* ]] || fail "retry: $out"
grep -q retry "$T/error" || fail "reason: $(cat "$T/error")"
# cancel, then restart.
echo cancel > "$T/ctl" || fail "cancel"
wait_for 10 eval '[ "$(status)" = cancelled ]' || fail "cancel: $(cat "$T/status")"
printf restart > "$T/ctl" || fail "restart without a newline"
wait_for 10 eval '[ "$(status)" = waiting ]' || fail "restart: $(cat "$T/status")"
echo '{"tag": 2}' > "$T/queues/go/new"
wait_for 10 eval '[ "$(jq -r .last.tag "$T/state.json")" = 2 ]' \
  || fail "the new run takes messages"
out=$(cat "$T/ctl" 2>&1) && fail "ctl is write-only"

af_stop_ok
af_pass
