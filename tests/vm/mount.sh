#!/usr/bin/env bash
# mount.sh - a VM as a shell user meets it through the mount: mkdir
# vm@NAME, run commands through its exec file, share files through fs/,
# see a read-only host directory (--vm-ro), stay out of the host, lose
# nothing to a daemon killed mid-command, and rmdir it away with its root.
. "$(dirname "$0")/../lib.sh"

repo=$AF_TMP/repo
mkdir -p "$repo"
echo 'hello from the host' > "$repo/README"
chmod -R a+rX "$repo"

af_start --agent claude=test --vm-ro "box=$repo:/srv/repo"

# exec CMD: one transaction on vm@box/exec (write the command, read the
# result from the same descriptor), as a user does it with bash.
vm_exec() {
  local out
  exec 5<>"$MNT/vm@box/exec" || fail "cannot open vm@box/exec"
  printf '%s' "$1" >&5 || fail "cannot write to vm@box/exec"
  out=$(cat <&5)
  exec 5>&-
  printf '%s' "$out"
}

assert_fails test -e "$MNT/vm@box"
assert_ok mkdir "$MNT/vm@box"
assert_ok test -d "$DATA/vm/box/root/home/user"
assert_ok test -d "$MNT/vm@box/fs/home/user"

r=$(vm_exec 'cat /srv/repo/README; echo oops >&2; exit 3')
assert_eq "$(jq -r .stdout <<<"$r")" "hello from the host" "stdout of exec"
assert_eq "$(jq -r .stderr <<<"$r")" "oops" "stderr of exec"
assert_eq "$(jq -r .exitCode <<<"$r")" 3 "exit code of exec"
assert_eq "$(jq -r .timedOut <<<"$r")" false "timedOut of exec"

r=$(vm_exec 'id -un; pwd; touch /srv/repo/x 2>/dev/null || echo read-only')
assert_eq "$(jq -r .stdout <<<"$r")" $'user\n/home/user\nread-only' "the VM's user, cwd and read-only mount"

# Files go both ways through fs/.
echo 'from the shell' > "$MNT/vm@box/fs/home/user/note.txt"
r=$(vm_exec 'cat /home/user/note.txt && echo made > /home/user/made.txt')
assert_eq "$(jq -r .stdout <<<"$r")" "from the shell" "a file written through fs/"
assert_eq "$(cat "$MNT/vm@box/fs/home/user/made.txt")" "made" "a file the VM made, seen in fs/"

# The host stays out of reach.
r=$(vm_exec "cat /etc/shadow; cat $repo/README; ls $DATA")
assert_eq "$(jq -r .stdout <<<"$r")" "" "host files seen from the VM"
[ "$(jq -r .exitCode <<<"$r")" != 0 ] || fail "reading host files succeeded"

# A command still running when the daemon is killed dies with it.  Wait
# for the command itself (its whole command line is `sleep 1234.8`), not
# for the sandbox's command line that names it before it runs.
( exec 6<>"$MNT/vm@box/exec"; printf 'sleep 1234.8' >&6; cat <&6 >/dev/null ) 2>/dev/null &
wait_for 20 pgrep -xf 'sleep 1234.8' >/dev/null || fail "the long command never started"
af_kill9
wait_for 5 eval '! pgrep -f "sleep 1234.8" >/dev/null' \
  || fail "the sandbox outlived the daemon: $(pgrep -af 'sleep 1234.8')"
af_start --agent claude=test --vm-ro "box=$repo:/srv/repo"

# rmdir removes an idle VM and its root.
assert_ok rmdir "$MNT/vm@box"
wait_for 5 eval '[ ! -e "$DATA/vm/box" ]' || fail "the VM's root is still there"
assert_fails test -e "$MNT/vm@box"

af_stop_ok
af_pass
