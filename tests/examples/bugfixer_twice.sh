#!/usr/bin/env bash
# The same repository twice in a row: the second clone-repo replaces the
# first checkout (it must, since steps also run again after a crash) and
# succeeds at its first attempt; both runs fix and record.
. "$(dirname "$0")/ex_lib.sh"

ex_repo calc
ex_start
issue=$(cat "$SRC/examples/demo/issue.txt")
ex_fix calc "$issue"
ex_wait_done bugFixer fix-bug-loop 0
ex_fix calc "$issue"
ex_wait_done bugFixer fix-bug-loop 1

for n in 0 1; do
  assert_eq "$(ex_entry bugFixer fix-bug-loop/$n/clone-repo | jq -c '[.status,.attempts]')" \
    '["completed",1]' "clone-repo of run $n"
  assert_eq "$(ex_entry bugFixer fix-bug-loop/$n/run-tests | jq -c .output)" 0 \
    "run-tests of run $n"
done
assert_eq "$(jq -c .lastExitCode "$MNT/bugFixer/state.json")" 0 "lastExitCode"
# One fix, not two: the second run fixed a fresh checkout.
assert_eq "$(grep -c 'a + b' "$MNT/vm@bug-fixer/fs/home/user/repo/index.js")" 1 \
  "occurrences of the fix in index.js"

af_stop_ok
af_pass
