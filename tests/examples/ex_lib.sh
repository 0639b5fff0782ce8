# tests/examples/ex_lib.sh - what the examples' tests share on top of
# tests/lib.sh: local bare repositories made from the demo project, the
# daemon started the way the demo starts it (test agent aliased as claude,
# the repositories bound read-only into vm@bug-fixer at /srv/demo), and
# waits on the bugFixer journal.
#
#   ex_repo NAME [SED-SCRIPT]  $SRV/NAME.git from examples/demo/calc, its
#                              index.js edited by SED-SCRIPT (e.g. the fix)
#   ex_start [ARGS...]         af_start with the demo's flags, wait for bugFixer,
#                              and make vm@bug-fixer trust the repositories
#   ex_vm_exec VM CMD          run CMD in vm@VM through its exec file
#   ex_fix REPO ISSUE          enqueue {"repo":"/srv/demo/REPO.git","issue":ISSUE}
#   ex_wait_done TYPE LOOP N [SECS]  wait until iteration N's last step
#                              completed; fails on a failed workflow
#   ex_entry TYPE PATH         the journal entry steps/PATH of actor TYPE
# Variables: SRC (the source tree), SRV (host dir seen as /srv/demo).

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../lib.sh
. "$SRC/tests/lib.sh"
SRV=$AF_TMP/srv
mkdir -p "$SRV"

ex_repo() {
  local name=$1 edit=${2:-} work=$AF_TMP/proj-$1
  rm -rf "$work"
  cp -a "$SRC/examples/demo/calc" "$work"
  if [ -n "$edit" ]; then
    sed -i "$edit" "$work/index.js"
  fi
  "$SRC/examples/demo/make-repo" "$work" "$SRV/$name.git" \
    || fail "cannot make the repository $name"
}

ex_start() {
  af_start --agent claude=test --vm-ro "bug-fixer=$SRV:/srv/demo" "$@"
  wait_for 10 test -f "$MNT/bugFixer/state.json" \
    || fail "no bugFixer actor in the mount"
}

# ex_vm_exec VM CMD: runs CMD in vm@VM through its exec transaction file
# (write the command, read the result on the same descriptor), making the
# VM first if needed; fails the test unless it exits 0.  Prints stdout.
ex_vm_exec() {
  local res
  # mkdir gets-or-creates, as a workflow's first call to the VM would.
  [ -d "$MNT/vm@$1" ] || mkdir "$MNT/vm@$1" || fail "mkdir vm@$1"
  res=$(exec 3<>"$MNT/vm@$1/exec" && printf '%s' "$2" >&3 && cat <&3) \
    || fail "exec in vm@$1 refused: $2"
  jq -e '.exitCode == 0' <<<"$res" >/dev/null || fail "exec in vm@$1 failed: $2: $res"
  jq -j .stdout <<<"$res"
}

ex_fix() {
  local msg
  msg=$(jq -nc --arg repo "/srv/demo/$1.git" --arg issue "$2" \
    '{repo:$repo,issue:$issue}')
  echo "$msg" > "$MNT/bugFixer/queues/fixBug/new" \
    || fail "enqueue on bugFixer/queues/fixBug/new refused"
}

ex_entry() {
  cat "$MNT/$1/steps/$2"
}

ex__last_step_done() {
  jq -e '.status == "completed"' "$MNT/$1/steps/$2/$3/$4" >/dev/null 2>&1
}

ex__failed() {
  jq -e '.status == "failed"' "$MNT/$1/status" >/dev/null 2>&1
}

ex_wait_done() {
  local type=$1 loop=$2 n=$3 secs=${4:-90} last
  case $type in
    bugFixer) last=record-result ;;
    codeReviewer) last=record-review ;;
    *) fail "ex_wait_done: unknown type $type" ;;
  esac
  local end=$((SECONDS + secs))
  until ex__last_step_done "$type" "$loop" "$n" "$last"; do
    if ex__failed "$type"; then
      cat "$MNT/$type/status" >&2
      fail "$type failed in iteration $n"
    fi
    [ "$SECONDS" -lt "$end" ] || {
      cat "$MNT/$type/status" >&2
      fail "$type iteration $n not done within $secs s"
    }
    sleep 0.05
  done
}
