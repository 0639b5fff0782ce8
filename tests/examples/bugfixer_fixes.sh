#!/usr/bin/env bash
# bugFixer fixes the demo repository: the agent (the test agent aliased as
# claude) follows the issue, run-tests records exit code 0, the state says
# so, and the journal holds the five entries of iteration 0, which a user
# watching with inotifywait sees appear in order.  The API key
# the daemon passes to the agent's session appears nowhere on disk or in
# the mount.
. "$(dirname "$0")/ex_lib.sh"

secret=sk-ant-test-$RANDOM$RANDOM
export ANTHROPIC_API_KEY=$secret
ex_repo calc
ex_start
issue=$(cat "$SRC/examples/demo/issue.txt")
assert_eq "$(jq -c . "$MNT/bugFixer/state.json")" \
  '{"lastIssue":null,"lastExitCode":null}' "initial state"

inotifywait -m -r -e create --format '%w%f' "$MNT/bugFixer/steps" \
  >"$AF_TMP/created" 2>"$AF_TMP/watch.err" &
wait_for 10 grep -q 'Watches established' "$AF_TMP/watch.err" \
  || fail "inotifywait did not start"
ex_fix calc "$issue"
ex_wait_done bugFixer fix-bug-loop 0
seen() {
  [ "$(sed -n "s|^$MNT/bugFixer/steps/fix-bug-loop/0/||p" "$AF_TMP/created" | paste -sd' ')" \
    = "clone-repo fix-bug run-tests record-result" ]
}
wait_for 5 seen || fail "inotifywait saw: $(cat "$AF_TMP/created")"

j=fix-bug-loop/0
assert_eq "$(ex_entry bugFixer $j/run-tests | jq -c .output)" 0 "run-tests output"
assert_eq "$(jq -r .lastIssue "$MNT/bugFixer/state.json")" "$issue" "lastIssue"
assert_eq "$(jq -c .lastExitCode "$MNT/bugFixer/state.json")" 0 "lastExitCode"
assert_eq "$(jq -c .lastExitCode <"$MNT/bugFixer/actions/getState")" 0 \
  "getState's lastExitCode"
for e in wait-fix-bug clone-repo fix-bug run-tests record-result; do
  assert_eq "$(ex_entry bugFixer "$j/$e" | jq -r .status)" completed "$e status"
done
assert_eq "$(ex_entry bugFixer $j/wait-fix-bug | jq -r .output.repo)" \
  /srv/demo/calc.git "the message in wait-fix-bug"

fixed=$MNT/vm@bug-fixer/fs/home/user/repo/index.js
assert_ok grep -q 'return a + b;' "$fixed"
assert_fails grep -q 'return a - b;' "$fixed"

# The session is named in fix-bug's output and closed by the step.
sid=$(ex_entry bugFixer $j/fix-bug | jq -r .output.sessionId)
assert_ok test -d "$MNT/vm@bug-fixer/sessions/$sid"
assert_eq "$(ex_entry bugFixer $j/fix-bug | jq -r .output.stopReason)" end_turn \
  "the agent's stop reason"

# (write-only files such as ctl make grep complain; a match still wins)
assert_fails grep -rqaF "$secret" "$MNT/bugFixer" "$MNT/vm@bug-fixer/sessions" 2>/dev/null
af_stop_ok
assert_fails grep -rqaF "$secret" "$DATA" "$LOG"
af_pass
