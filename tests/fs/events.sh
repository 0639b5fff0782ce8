#!/usr/bin/env bash
# events.sh - the events file: JSON lines appended live, its size its true
# length, so `tail -f` follows it; poll(2) and epoll wake when it grows.
. "$(dirname "$0")/../lib.sh"
af_start
C=$MNT/counter
E=$C/events

tail -n +1 -f "$E" > "$AF_TMP/tail.out" 2>&1 &
tailpid=$!
wait_for 10 eval 'grep -q loop.started "$AF_TMP/tail.out"' \
  || fail "tail -f printed nothing: $(cat "$AF_TMP/tail.out")"
echo '{"n": 3}' > "$C/queues/add/new"
wait_for 10 eval 'grep -q step.completed "$AF_TMP/tail.out"' \
  || fail "tail -f did not follow: $(cat "$AF_TMP/tail.out")"
echo '{"n": 4}' > "$C/queues/add/new"
wait_for 10 eval '[ "$(grep -c step.completed "$AF_TMP/tail.out")" = 2 ]' \
  || fail "tail -f stopped following"
kill "$tailpid"
wait "$tailpid" 2>/dev/null
grep -q 'truncated' "$AF_TMP/tail.out" && fail "tail saw a truncation"
jq -e . "$AF_TMP/tail.out" >/dev/null || fail "tail output is not JSON lines"

# poll(2) and epoll: block at the end of the file until it grows.
python3 - "$E" "$C/queues/add/new" <<'PY' || fail "poll/epoll"
import os, select, sys, threading, time
events, new = sys.argv[1], sys.argv[2]
for kind in ("poll", "epoll"):
    fd = os.open(events, os.O_RDONLY)
    while os.read(fd, 1 << 16):
        pass
    if kind == "poll":
        p = select.poll()
        p.register(fd, select.POLLIN)
        wait = lambda ms: p.poll(ms)
    else:
        p = select.epoll()
        p.register(fd, select.EPOLLIN)
        wait = lambda ms: p.poll(ms / 1000)
    # The previous message may still be appending lines: drain until a
    # quiet 200 ms passes without a wakeup.
    for quiet in range(20):
        if wait(200) == []:
            break
        while os.read(fd, 1 << 16):
            pass
    else:
        raise SystemExit(kind + ": always ready, even with nothing new")
    def enqueue():
        time.sleep(0.2)
        with open(new, "w") as f:
            f.write('{"n": 1}')
    t = threading.Thread(target=enqueue)
    t.start()
    start = time.monotonic()
    ready = wait(10000)
    t.join()
    assert ready, kind + ": no wakeup"
    assert time.monotonic() - start < 5, kind + ": woke late"
    assert os.read(fd, 1 << 16), kind + ": woke with nothing to read"
    os.close(fd)
PY

af_stop_ok
af_pass
