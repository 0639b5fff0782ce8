#!/usr/bin/env bash
# codeReviewer writes and applies a review: the first session turns the
# file's FIXME into a finding in /home/user/review.md, read-review journals
# that text, the second session applies it, and reviewedFiles counts it.
. "$(dirname "$0")/ex_lib.sh"

ex_start
mkdir "$MNT/vm@reviewer" || fail "mkdir vm@reviewer"
home=$MNT/vm@reviewer/fs/home/user
mkdir -p "$home/src" || fail "mkdir in the VM's fs/"
# The FIXME is the review's input; the fix changes the code line (and the
# comment, which quotes OLD too: the assertions look at the code line).
cat > "$home/src/greet.js" <<'JS' || fail "cannot write the file to review"
function greet(name) {
  return 'Helo, ' + name;
}
// FIXME: replace "'Helo, '" with "'Hello, '"
module.exports = { greet };
JS
assert_ok grep -q 'FIXME: replace "' "$home/src/greet.js"
assert_eq "$(jq -c . "$MNT/codeReviewer/state.json")" '{"reviewedFiles":0}' \
  "initial state"

echo '{"filePath":"/home/user/src/greet.js"}' > "$MNT/codeReviewer/queues/codeReview/new" \
  || fail "enqueue refused"
ex_wait_done codeReviewer code-review-loop 0

want="- replace \"'Helo, '\" with \"'Hello, '\" in /home/user/src/greet.js"
assert_ok grep -qxF -- "$want" "$home/review.md"
review=$(ex_entry codeReviewer code-review-loop/0/read-review | jq -r .output)
assert_eq "$review" "$(cat "$home/review.md")" "read-review's output"
assert_ok grep -q "return 'Hello, ' + name;" "$home/src/greet.js"
assert_fails grep -q "return 'Helo, ' + name;" "$home/src/greet.js"
assert_eq "$(jq -c .reviewedFiles "$MNT/codeReviewer/state.json")" 1 "reviewedFiles"
for e in wait-code-review review read-review fix record-review; do
  assert_eq "$(ex_entry codeReviewer "code-review-loop/0/$e" | jq -r .status)" \
    completed "$e status"
done

# A second file with nothing to fix: "No findings.", still counted.
echo 'const x = 1;' > "$home/src/clean.js" || fail "cannot write clean.js"
echo '{"filePath":"/home/user/src/clean.js"}' > "$MNT/codeReviewer/queues/codeReview/new"
ex_wait_done codeReviewer code-review-loop 1
assert_ok grep -q 'No findings.' "$home/review.md"
assert_eq "$(cat "$home/src/clean.js")" "const x = 1;" "the clean file"
assert_eq "$(jq -c .reviewedFiles "$MNT/codeReviewer/state.json")" 2 "reviewedFiles"

af_stop_ok
af_pass
