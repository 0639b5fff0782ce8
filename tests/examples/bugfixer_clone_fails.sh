#!/usr/bin/env bash
# A clone that fails (the repository is not there yet) fails clone-repo
# with git's stderr in the error, after its attempts, and the workflow
# shows it in status.  Once the repository exists, `echo retry > ctl`
# re-runs the failed step and the run completes.
. "$(dirname "$0")/ex_lib.sh"

ex_start
ex_fix late "$(cat "$SRC/examples/demo/issue.txt")"

failed() { jq -e '.status == "failed"' "$MNT/bugFixer/status" >/dev/null 2>&1; }
wait_for 60 failed || fail "the workflow did not fail: $(cat "$MNT/bugFixer/status")"
st=$(cat "$MNT/bugFixer/status")
assert_eq "$(jq -r .step <<<"$st")" fix-bug-loop/0/clone-repo "the failed step"
jq -r .error.message <<<"$st" | grep -q '^git clone failed (exit 128): .*/srv/demo/late.git' \
  || fail "the error does not carry git's reason: $st"
entry=$(ex_entry bugFixer fix-bug-loop/0/clone-repo)
assert_eq "$(jq -c '[.status, .attempts]' <<<"$entry")" '["failed",3]' "clone-repo entry"
assert_eq "$(jq -c .lastExitCode "$MNT/bugFixer/state.json")" null "state untouched"

ex_repo late
echo retry > "$MNT/bugFixer/ctl" || fail "ctl retry refused"
ex_wait_done bugFixer fix-bug-loop 0
assert_eq "$(jq -c .lastExitCode "$MNT/bugFixer/state.json")" 0 "lastExitCode after retry"

af_stop_ok
af_pass
