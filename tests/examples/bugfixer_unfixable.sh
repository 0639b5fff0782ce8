#!/usr/bin/env bash
# An issue the agent cannot act on: the tests still fail, the non-zero exit
# code is recorded as a result (not a workflow failure), and the loop goes
# on to the next message, which is processed.
. "$(dirname "$0")/ex_lib.sh"

ex_repo calc
ex_start
# Both messages are enqueued at once: the second waits for the first.
ex_fix calc "add() is wrong somehow, no idea where."
ex_fix calc "$(cat "$SRC/examples/demo/issue.txt")"

ex_wait_done bugFixer fix-bug-loop 0
code=$(ex_entry bugFixer fix-bug-loop/0/run-tests | jq -c .output)
[ "$code" != 0 ] && [ "$code" != null ] || fail "run-tests output was $code, want non-zero"
assert_eq "$(ex_entry bugFixer fix-bug-loop/0/record-result | jq -r .status)" \
  completed "record-result of the unfixable issue"

ex_wait_done bugFixer fix-bug-loop 1
assert_eq "$(jq -c .lastExitCode "$MNT/bugFixer/state.json")" 0 \
  "lastExitCode after the second message"
assert_eq "$(jq -r .lastIssue "$MNT/bugFixer/state.json")" \
  "$(cat "$SRC/examples/demo/issue.txt")" "lastIssue after the second message"
assert_ok jq -e '.status != "failed"' "$MNT/bugFixer/status"

af_stop_ok
af_pass
