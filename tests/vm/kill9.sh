#!/usr/bin/env bash
# kill9.sh - a command's sandbox never outlives its daemon, wherever the
# kill -9 lands: before the VM's sandbox started, while it starts, while
# the command is held for its cgroups, or while it runs.  Each round
# starts the daemon, sends `sleep 1234.7` to a new VM's exec file, kills
# the daemon 0 to 42 ms later, and checks that neither the command nor
# any sandbox of that VM is left.
. "$(dirname "$0")/../lib.sh"

for i in $(seq 0 14); do
  af_start
  name=k$$x$i
  mkdir "$MNT/vm@$name" || fail "mkdir vm@$name"
  ( exec 6<>"$MNT/vm@$name/exec"; printf 'sleep 1234.7' >&6; cat <&6 >/dev/null ) 2>/dev/null &
  sleep "$(printf '0.%03d' $((i * 3)))"
  af_kill9
  wait_for 5 eval '! pgrep -f "sleep 1234.7" >/dev/null && ! pgrep -f -- "--hostname $name " >/dev/null' \
    || fail "killed $((i * 3)) ms after the exec, left: $(pgrep -af "sleep 1234.7|hostname $name ")"
  wait
done
af_pass
