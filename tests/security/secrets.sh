#!/usr/bin/env bash
# Credentials are written nowhere: the daemon runs with a canary
# ANTHROPIC_API_KEY in its environment, bugFixer runs one issue end to end
# with the offline test agent (a real agent session, whose env carries the
# daemon's credentials), a session is also made by hand with the canary in
# its env, and then no file under the data dir, the mount's journal,
# events and transcripts, and the log holds the canary.
. "$(dirname "$0")/../examples/ex_lib.sh"
# /usr/bin first: a version manager's shim on PATH can cost seconds a start.
PY=$(command -v /usr/bin/python3 || command -v python3)

canary=sk-ant-canary-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
export ANTHROPIC_API_KEY=$canary
ex_repo calc
ex_start
ex_fix calc "$(cat "$SRC/examples/demo/issue.txt")"
ex_wait_done bugFixer fix-bug-loop 0

# A session made directly, the canary passed in its env.
args=$(jq -nc --arg k "$canary" '{agent:"claude",env:{ANTHROPIC_API_KEY:$k}}')
sid=$("$PY" - "$MNT/vm@bug-fixer/actions/createSession" "$args" <<'PY'
import json, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.write(fd, sys.argv[2].encode())
out = b""
while True:
    b = os.read(fd, 65536)
    if not b:
        break
    out += b
os.close(fd)
print(json.loads(out)["sessionId"])
PY
) || fail "createSession through actions/ failed"
[ -n "$sid" ] || fail "createSession gave no session id"

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
