#!/usr/bin/env bash
# tree.sh - every file of SPEC section 2 is there and says what it should:
# the root lists actors, an actor shows type, state.json, status, queues/,
# steps/, events, actions/, ctl and error; mkdir TYPE@KEY gets-or-creates,
# rmdir destroys, an unknown type is ENOENT.
. "$(dirname "$0")/../lib.sh"
af_start --load "$FSTEST_PLUGIN"
C=$MNT/counter

# The root: every type with queues has its default instance.
for a in counter bugFixer codeReviewer fstest; do
  assert_ok test -d "$MNT/$a"
done
assert_eq "$(ls "$C" | tr '\n' ' ')" \
  "actions ctl error events queues state.json status steps type " "counter/"

assert_eq "$(cat "$C/type")" counter "type"
assert_eq "$(jq -c . "$C/state.json")" '{"total":0,"count":0}' "state.json"
assert_eq "$(tail -c 1 "$C/state.json" | od -An -c | tr -d ' ')" '\n' \
  "state.json ends with a newline"
assert_eq "$(jq -r .status "$C/status")" waiting "status"
assert_eq "$(jq -r .waitingOn "$C/status")" queue:add "status waitingOn"
assert_eq "$(ls "$C/queues")" add "queues/"
assert_eq "$(ls "$C/queues/add" | tr '\n' ' ')" "error new " "queues/add/"
assert_eq "$(ls "$C/actions")" getState "actions/"
assert_eq "$(cat "$C/error")" "" "error starts empty"

# One message through: state, steps tree, events.
echo '{"n": 7}' > "$C/queues/add/new" || fail "enqueue"
wait_for 10 eval '[ "$(jq .count "$C/state.json")" = 1 ]' \
  || fail "message not processed: $(cat "$C/state.json")"
assert_eq "$(jq -c . "$C/state.json")" '{"total":7,"count":1}' "state after"
assert_eq "$(ls "$C/steps")" add-loop "steps/"
assert_ok test -d "$C/steps/add-loop/0"
assert_eq "$(ls "$C/steps/add-loop/0" | tr '\n' ' ')" "add wait-add " \
  "steps/add-loop/0/"
assert_eq "$(jq -r .kind "$C/steps/add-loop/0/add")" step "step kind"
assert_eq "$(jq -r .status "$C/steps/add-loop/0/add")" completed "step status"
assert_eq "$(jq -r .output "$C/steps/add-loop/0/add")" 7 "step output"
assert_eq "$(jq -r .kind "$C/steps/add-loop/0/wait-add")" queue "wait kind"
assert_eq "$(jq -c .output "$C/steps/add-loop/0/wait-add")" '{"n":7}' \
  "queue wait output"
for k in kind name status attempts output error startedAt finishedAt; do
  assert_eq "$(jq "has(\"$k\")" "$C/steps/add-loop/0/add")" true "step has $k"
done
# events: JSON lines, parse one by one, true size.
jq -e . "$C/events" >/dev/null || fail "events is not JSON lines"
grep -q '"message.enqueued"' "$C/events" || fail "no message.enqueued event"
assert_eq "$(stat -c %s "$C/events")" "$(cat "$C/events" | wc -c)" \
  "events size is its true length"
assert_eq "$(stat -c %s "$C/state.json")" "$(cat "$C/state.json" | wc -c)" \
  "state.json size"
assert_eq "$(head -n 1 "$C/events" | jq -r .type)" "$(jq -rs '.[0].type' "$C/events")" \
  "head -n reads events"
python3 -c "import json,sys; json.loads(open(sys.argv[1]).read())" \
  "$C/state.json" || fail "python reads state.json whole"

# actions/getState runs the action.
assert_eq "$(jq -c . "$C/actions/getState")" '{"total":7,"count":1}' "getState"

# mkdir TYPE@KEY gets-or-creates; rmdir destroys; unknown type ENOENT.
assert_ok mkdir "$MNT/counter@alpha"
assert_ok test -d "$MNT/counter@alpha/queues/add"
assert_eq "$(cat "$MNT/counter@alpha/type")" counter "type of counter@alpha"
ls "$MNT" | grep -qx 'counter@alpha' || fail "counter@alpha not listed"
assert_ok mkdir -p "$MNT/counter@alpha"
echo '{"n": 2}' > "$MNT/counter@alpha/queues/add/new"
wait_for 10 eval '[ "$(jq .total "$MNT/counter@alpha/state.json")" = 2 ]' \
  || fail "counter@alpha did not count"
assert_eq "$(jq .total "$C/state.json")" 7 "instances are separate"
out=$(mkdir "$MNT/nosuchtype@x" 2>&1) && fail "mkdir of an unknown type worked"
[[ $out == *"No such file or directory"* ]] || fail "unknown type: $out"
out=$(ls "$MNT/nosuchtype" 2>&1) && fail "unknown actor listed"
[[ $out == *"No such file or directory"* ]] || fail "unknown actor: $out"
assert_ok rmdir "$MNT/counter@alpha"
wait_for 5 eval '[ ! -e "$MNT/counter@alpha" ]' || fail "rmdir left it"
ls "$MNT" | grep -qx 'counter@alpha' && fail "counter@alpha still listed"
assert_ok mkdir "$MNT/counter@alpha"
assert_eq "$(jq -c . "$MNT/counter@alpha/state.json")" \
  '{"total":0,"count":0}' "a destroyed actor comes back new"

af_stop_ok
af_pass
