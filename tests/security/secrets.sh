#!/usr/bin/env bash
# Credentials are written nowhere: the daemon runs with a canary
# ANTHROPIC_API_KEY in its environment, bugFixer runs one issue end to end
# with the offline test agent (a real agent session, whose env carries the
# daemon's credential), then again with an agent that prints the
# credential on stderr and fails; then no file under the data dir, the
# mount's journal, events and transcripts, and the log holds the canary.
. "$(dirname "$0")/../examples/ex_lib.sh"
# /usr/bin first: a version manager's shim on PATH can cost seconds a start.
PY=$(command -v /usr/bin/python3 || command -v python3)

canary=sk-ant-canary-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
export ANTHROPIC_API_KEY=$canary
ex_repo calc
ex_start
ex_fix calc "$(cat "$SRC/examples/demo/issue.txt")"
ex_wait_done bugFixer fix-bug-loop 0

# An agent that leaks: it prints its credential on stderr and dies, so
# the reason of the failed fix-bug step carries its stderr; the
# credential must be redacted out of it everywhere.
leaky='echo leaked $ANTHROPIC_API_KEY >&2; exit 3'
af_stop_ok
ex_start --agent "claude=$leaky"
ex_fix calc "$(cat "$SRC/examples/demo/issue.txt")"
wait_for 90 ex__failed bugFixer || fail "bugFixer did not fail with the leaking agent"
grep -rq --binary-files=text leaked "$MNT/bugFixer/steps" "$MNT/bugFixer/status" "$LOG" \
  || fail "the leaking agent's stderr reached no error: the redaction was not exercised"

leaks() {
  grep -rl --binary-files=text -- "$canary" "$DATA" "$LOG" 2>/dev/null
  grep -rl --binary-files=text -- "$canary" "$MNT/bugFixer/steps" \
    "$MNT/bugFixer/events" "$MNT/vm@bug-fixer/sessions" 2>/dev/null
}
found=$(leaks)
[ -z "$found" ] || fail "the canary credential is in: $found"
af_stop_ok
found=$(leaks)
[ -z "$found" ] || fail "the canary credential is in (after stop): $found"
af_pass
