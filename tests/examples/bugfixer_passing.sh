#!/usr/bin/env bash
# A repository whose tests already pass, with an issue that asks for no
# change: the agent leaves the checkout untouched and the workflow records
# exit code 0.
. "$(dirname "$0")/ex_lib.sh"

ex_repo good 's/a - b/a + b/'
ex_start
ex_fix good "add() feels slow sometimes; please take a look."
ex_wait_done bugFixer fix-bug-loop 0

assert_eq "$(ex_entry bugFixer fix-bug-loop/0/run-tests | jq -c .output)" 0 \
  "run-tests output"
assert_eq "$(jq -c .lastExitCode "$MNT/bugFixer/state.json")" 0 "lastExitCode"
assert_ok cmp "$AF_TMP/proj-good/index.js" \
  "$MNT/vm@bug-fixer/fs/home/user/repo/index.js"

af_stop_ok
af_pass
