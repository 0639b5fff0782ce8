#!/usr/bin/env bash
# --load: the examples built as plugins (lib<name>_plugin.so) load into
# actorfs and run with its engine (their eng_* symbols resolve against the
# executable), replacing the compiled-in types of the same name; a
# test-only plugin adds a type nothing else provides; a missing plugin is
# refused at start with a reason naming it.
. "$(dirname "$0")/ex_lib.sh"
: "${EX_PLUGIN_DIR:?EX_PLUGIN_DIR must name the directory of the example plugins}"
: "${EX_HELLO_PLUGIN:?EX_HELLO_PLUGIN must name the test plugin}"

loads=()
for p in counter bugFixer codeReviewer; do
  so=$EX_PLUGIN_DIR/lib${p}_plugin.so
  assert_ok test -f "$so"
  loads+=(--load "$so")
done
loads+=(--load "$EX_HELLO_PLUGIN")

ex_repo calc
ex_start "${loads[@]}"

for so in "${loads[@]}"; do
  [ "$so" = --load ] || assert_ok grep -qF "loaded $so" "$LOG"
done
assert_eq "$(cat "$MNT/hello/type")" hello "the plugin-only type"
echo '{"name":"ada"}' > "$MNT/hello/queues/greet/new" || fail "enqueue on hello refused"
greeted() { jq -e '.greeted == ["ada"]' "$MNT/hello/state.json" >/dev/null 2>&1; }
wait_for 30 greeted || fail "hello's workflow did not run: $(cat "$MNT/hello/state.json")"

echo '{"n":2}' > "$MNT/counter/queues/add/new" || fail "enqueue on counter refused"
echo '{"n":3}' > "$MNT/counter/queues/add/new" || fail "enqueue on counter refused"
counted() { jq -e '.total == 5 and .count == 2' "$MNT/counter/state.json" >/dev/null 2>&1; }
wait_for 30 counted || fail "the counter plugin did not count: $(cat "$MNT/counter/state.json")"

# The bugFixer plugin drives the VM like the compiled-in one.
ex_fix calc "$(cat "$SRC/examples/demo/issue.txt")"
ex_wait_done bugFixer fix-bug-loop 0
assert_eq "$(jq -c .lastExitCode "$MNT/bugFixer/state.json")" 0 "lastExitCode"
af_stop_ok

# A plugin that does not exist: the daemon refuses to start and says which.
timeout 20 "$ACTORFS_BIN" "$MNT" --data "$DATA" -f --load "$AF_TMP/nope.so" 2>"$AF_TMP/err"
rc=$?
[ "$rc" -ne 0 ] || fail "actorfs started with a missing plugin"
assert_ok grep -q "nope.so" "$AF_TMP/err"
assert_fails af_mounted
af_pass
