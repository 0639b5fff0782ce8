#!/usr/bin/env bash
# kill -9 of the daemon while fix-bug runs, restart on the same data: the
# run resumes at fix-bug.  clone-repo is not run again (its journal entry
# is byte-identical and the clone happened once, counted by a git hook the
# VM's git config points at), fix-bug runs again (a second agent session)
# and the workflow completes, recording the tests' exit code.
. "$(dirname "$0")/ex_lib.sh"

ex_repo calc
# Every checkout in the VM appends a line to /home/user/clones.log.
mkdir -p "$SRV/hooks"
printf '#!/bin/sh\necho clone >> /home/user/clones.log\n' > "$SRV/hooks/post-checkout"
chmod 755 "$SRV/hooks/post-checkout"

ex_start
home=$MNT/vm@bug-fixer/fs/home/user
ex_vm_exec bug-fixer 'git config --global core.hooksPath /srv/demo/hooks'

# The test agent's hook, "sleep MS" on a line of its own, keeps the
# agent's turn long enough to kill (and makes it change nothing, so the
# tests still fail at the end: exit code 1 is the recorded result).
ex_fix calc $'add() hangs, then answers wrong.\nsleep 8000'

# Killed mid-turn: fix-bug is running and the agent has said it sleeps.
mid_turn() {
  jq -e '.status == "running"' "$MNT/bugFixer/steps/fix-bug-loop/0/fix-bug" \
    >/dev/null 2>&1 &&
    grep -qs 'Sleeping 8000 ms' "$MNT"/vm@bug-fixer/sessions/*/transcript
}
wait_for 60 mid_turn || fail "fix-bug's agent turn never started"
clone_before=$(ex_entry bugFixer fix-bug-loop/0/clone-repo)
assert_eq "$(jq -r .status <<<"$clone_before")" completed "clone-repo before the kill"
assert_eq "$(cat "$home/clones.log")" clone "clones before the kill"

af_restart --agent claude=test --vm-ro "bug-fixer=$SRV:/srv/demo"
ex_wait_done bugFixer fix-bug-loop 0 120

assert_eq "$(ex_entry bugFixer fix-bug-loop/0/clone-repo)" "$clone_before" \
  "clone-repo's journal entry across the crash"
assert_eq "$(cat "$home/clones.log")" clone "clones after the restart"
nsessions=$(find "$MNT/vm@bug-fixer/sessions" -mindepth 1 -maxdepth 1 | wc -l)
assert_eq "$nsessions" 2 "agent sessions (the interrupted one and the rerun)"
closed=$(cat "$MNT"/vm@bug-fixer/sessions/*/info | jq -s 'map(select(.stopReason == "end_turn")) | length')
assert_eq "$closed" 1 "sessions whose turn ended (the kill came mid-turn)"
assert_eq "$(ex_entry bugFixer fix-bug-loop/0/fix-bug | jq -r .status)" completed \
  "fix-bug after the restart"
assert_eq "$(jq -c .lastExitCode "$MNT/bugFixer/state.json")" 1 "lastExitCode"

af_stop_ok
af_pass
