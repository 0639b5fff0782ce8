#!/usr/bin/env bash
# mount_seedloop.sh - the seed's loop through the mount, as a user drives
# it: the real actorfs with --load of the seedloop plugin, messages written
# with bash's builtin echo into queues/work/new, the clock stopped when
# state.json shows every message recorded.  Then enqueue alone, into
# queues that nothing consumes (type "sink"): one writer (µs per
# acknowledged message), and W writers in parallel into one queue, timed
# until the last close() returns (messages per second).  bash ignores
# errors at close, so the pending count is checked after each.
#
#   ACTORFS_BIN=... SEEDLOOP_PLUGIN=... mount_seedloop.sh \
#       [--durability full|normal] [--messages N] [--actors A]
#       [--writers W] [--writer-messages M]
#
# Prints one JSON line per measurement and exits 0 only if every message
# was acknowledged and recorded; as a ctest smoke test it runs small.
set -u
: "${SEEDLOOP_PLUGIN:?SEEDLOOP_PLUGIN must name libseedloop_plugin.so}"
source "$(dirname "$0")/../lib.sh"

durability=normal messages=1000 actors=1 writers=16 writer_messages=500
while [ $# -gt 0 ]; do
  case $1 in
    --durability) durability=$2 ;;
    --messages) messages=$2 ;;
    --actors) actors=$2 ;;
    --writers) writers=$2 ;;
    --writer-messages) writer_messages=$2 ;;
    *) echo "usage: mount_seedloop.sh [--durability full|normal] [--messages N]" \
            "[--actors A] [--writers W] [--writer-messages M]" >&2; exit 100 ;;
  esac
  shift 2 || { echo "mount_seedloop.sh: $1 needs a value" >&2; exit 100; }
done
[ $((messages % actors)) -eq 0 ] || fail "--messages must be a multiple of --actors"
per=$((messages / actors))

# A pause without forking sleep(1) between polls: read times out on a pipe
# that never gets data.
exec {nap_fd}<> <(:)
nap() { read -r -t 0.005 -u "$nap_fd" _ || true; }

now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }

# True when DIR/state.json shows "count":WANT; read with builtins only, so
# polling costs the daemon one open/read/close and us no fork.
recorded() {
  local lines
  mapfile -t lines < "$1/state.json" 2>/dev/null || return 1
  [[ "${lines[*]}" =~ \"count\":[[:space:]]*$2[^0-9] ]]
}

af_start --load "$SEEDLOOP_PLUGIN" --durability "$durability"

dirs=()
if [ "$actors" -eq 1 ]; then
  dirs=("$MNT/seedloop")
else
  for ((a = 0; a < actors; a++)); do
    mkdir "$MNT/seedloop@a$a" || fail "mkdir seedloop@a$a"
    dirs+=("$MNT/seedloop@a$a")
  done
fi
for d in "${dirs[@]}"; do
  wait_for 20 test -e "$d/queues/work/new" || fail "$d/queues/work/new is missing"
done

t0=$(now_us)
for ((i = 0; i < per; i++)); do
  for d in "${dirs[@]}"; do
    echo '{"n":1}' > "$d/queues/work/new" || fail "enqueue into $d refused"
  done
done
for d in "${dirs[@]}"; do
  until recorded "$d" "$per"; do
    [ $(( $(now_us) - t0 )) -lt 600000000 ] || fail "$d did not record $per messages in 600 s"
    nap
  done
done
t1=$(now_us)
us=$((t1 - t0))
printf '{"bench":"mount","durability":"%s","actors":%d,"messages":%d,"steps":%d,"ms":%d.%03d,"ms_per_step":%s,"ms_per_message":%s}\n' \
  "$durability" "$actors" "$messages" $((messages * 4)) $((us / 1000)) $((us % 1000)) \
  "$(awk -v u="$us" -v n="$((messages * 4))" 'BEGIN{printf "%.4f", u/1000/n}')" \
  "$(awk -v u="$us" -v n="$messages" 'BEGIN{printf "%.4f", u/1000/n}')"

# One writer, nothing consuming: the cost of an acknowledged enqueue as a
# shell user pays it (open, write, close of queues/in/new).
mkdir "$MNT/sink@solo" || fail "mkdir sink@solo"
q=$MNT/sink@solo/queues/in
wait_for 20 test -e "$q/new" || fail "$q/new is missing"
t0=$(now_us)
for ((i = 0; i < messages; i++)); do
  echo '{"n":1}' > "$q/new" || fail "enqueue into sink@solo refused"
done
t1=$(now_us)
pending=$(ls "$q" | grep -c '\.json$')
assert_eq "$pending" "$messages" "pending messages in sink@solo/queues/in"
us=$((t1 - t0))
printf '{"bench":"enqueue","source":"bash","label":"bash echo > queues/in/new, one writer","durability":"%s","messages":%d,"us":%s}\n' \
  "$durability" "$messages" "$(awk -v u="$us" -v n="$messages" 'BEGIN{printf "%.1f", u/n}')"

if [ "$writers" -gt 0 ]; then
  q=$MNT/sink/queues/in
  wait_for 20 test -e "$q/new" || fail "$q/new is missing"
  pids=()
  t0=$(now_us)
  for ((w = 0; w < writers; w++)); do
    (
      for ((i = 0; i < writer_messages; i++)); do
        echo "{\"w\":$w,\"i\":$i}" > "$q/new" || exit 1
      done
    ) &
    pids+=($!)
  done
  ok=1
  for p in "${pids[@]}"; do
    wait "$p" || ok=0
  done
  t1=$(now_us)
  [ "$ok" -eq 1 ] || fail "a writer's enqueue was refused"
  total=$((writers * writer_messages))
  pending=$(ls "$q" | grep -c '\.json$')
  assert_eq "$pending" "$total" "pending messages in sink/queues/in"
  us=$((t1 - t0))
  printf '{"bench":"mount_writers","durability":"%s","writers":%d,"messages":%d,"ms":%d.%03d,"msgs_per_s":%s}\n' \
    "$durability" "$writers" "$total" $((us / 1000)) $((us % 1000)) \
    "$(awk -v u="$us" -v n="$total" 'BEGIN{printf "%.0f", n/(u/1e6)}')"
fi
# Right after a burst of enqueues the daemon is still announcing them
# through its own mount (inotify events), and fusermount3 -u meets EBUSY
# for a moment: retry within a deadline, then insist on a clean exit.
wait_for 30 fusermount3 -u "$MNT" 2>/dev/null || fail "fusermount3 -u $MNT kept failing"
af__wait_exit
assert_eq "$AF_RC" 0 "actorfs exit code after a clean unmount"
af_pass
