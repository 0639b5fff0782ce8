#!/usr/bin/env python3
"""report.py - turns one scripts/bench run into tests/bench/BENCHMARKS.md
and tests/bench/benchmarks.svg.

Input: a file of JSON lines, one per measurement, written by scripts/bench
(each has "bench"; see the tables below for the fields each kind carries),
plus lines {"bench":"skip","what":...,"reason":...} for what could not run
and {"bench":"raw","what":...,"text":...} for tables kept as printed.  The
machine is described from /proc and the filesystem holding the data.  A
figure that is missing is written as "not built" or "not run", never made
up.  The chart (gnuplot, SVG) is the main comparison: ms per step, actorfs
through the C API and through the mount against RivetKit's engine.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys

# What each target compares, and its bound; "met" is decided here only.
TARGET_STEP_RATIO = 3.0       # RivetKit ms/step over actorfs ms/step, at least
TARGET_ENQUEUE_RATIO = 2.0    # mount enqueue over null-FUSE floor, at most
TARGET_WRITERS_RATE = 5000.0  # acknowledged messages/s, 16 writers, full
TARGET_IDLE_MB = 200.0        # RSS with 100,000 idle actors, at most
TARGET_RECOVERY_MS = 2000.0   # 10,000 workflows resumed, at most
TARGET_REPLAY_FLAT = 1.5      # evict-and-replay p50, longest over shortest


def load(path):
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"report.py: {path}:{n}: not JSON ({e})")
    return rows


# Figures of the seed's loop come in rounds; the median of each is kept.
MEDIAN_FIELDS = ("ms_per_step", "ms_per_message", "ms", "msgs_per_s", "us",
                 "bytes_per_step")


def pick(rows, bench, **match):
    """The row of BENCH matching MATCH; over several rounds, a copy whose
    figures are the medians and whose "rounds" counts them."""
    found = [r for r in rows if r.get("bench") == bench
             and all(r.get(k) == v for k, v in match.items())]
    if len(found) <= 1:
        return found[0] if found else None
    med = dict(found[0])
    med["rounds"] = len(found)
    for f in MEDIAN_FIELDS:
        vals = [r[f] for r in found if isinstance(r.get(f), (int, float))]
        if vals:
            med[f] = statistics.median(vals)
    return med


def merged(rows, bench, keys):
    """One row per distinct KEYS of BENCH, each the median over rounds."""
    seen, out = set(), []
    for r in rows:
        if r.get("bench") != bench:
            continue
        k = tuple(r.get(x) for x in keys)
        if k not in seen:
            seen.add(k)
            out.append(pick(rows, bench, **{x: r.get(x) for x in keys}))
    return out


def skipped(rows, what):
    for r in rows:
        if r.get("bench") == "skip" and r.get("what") == what:
            return r.get("reason", "skipped")
    return None


def fmt(v, unit="", digits=3):
    if v is None:
        return "not run"
    if isinstance(v, float):
        v = f"{v:.{digits}f}"
    return f"{v}{unit}"


def machine(data_dir):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "unknown"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                    break
    except OSError:
        pass
    disk = "unknown"
    try:
        out = subprocess.run(["findmnt", "-no", "SOURCE,FSTYPE,OPTIONS", "-T", data_dir],
                             capture_output=True, text=True, check=True).stdout.split()
        src, fstype = out[0], out[1]
        disk = f"{fstype} on {src}"
        dev = os.path.basename(os.path.realpath(src))
        base = dev.rstrip("0123456789") if not dev.startswith("nvme") else dev.split("p")[0]
        rota = f"/sys/block/{base}/queue/rotational"
        if os.path.exists(rota):
            with open(rota) as f:
                disk += (", kernel reports it rotational" if f.read().strip() == "1"
                         else ", non-rotational")
        model = f"/sys/block/{base}/device/model"
        if os.path.exists(model):
            with open(model) as f:
                disk += f", {f.read().strip()}"
        elif base.startswith("vd"):
            disk += ", virtio block device"
    except (OSError, subprocess.CalledProcessError, IndexError):
        pass
    return [
        ("CPUs (nproc)", str(os.cpu_count())),
        ("CPU", cpu),
        ("memory", mem),
        ("kernel", platform.release()),
        ("disk (data directory)", disk),
        ("OS", _os_release()),
    ]


def _os_release():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def verdict(ok):
    return "**met**" if ok else "**missed**"


def step_table(rows, out):
    out.append("| durability | actors | actorfs C API ms/step | actorfs mount ms/step | RivetKit ms/step | RivetKit / C API | RivetKit / mount |")
    out.append("|---|---|---|---|---|---|---|")
    rk_skip = skipped(rows, "rivetkit")
    capi_skip = skipped(rows, "capi")
    for dur in ("full", "normal"):
        for actors in (1, 100):
            c = pick(rows, "capi", durability=dur, actors=actors)
            m = pick(rows, "mount", durability=dur, actors=actors)
            k = pick(rows, "rivetkit", durability=dur, actors=actors)
            cv = c["ms_per_step"] if c else None
            mv = m["ms_per_step"] if m else None
            kv = k["ms_per_step"] if k else None
            out.append("| {} | {} | {} | {} | {} | {} | {} |".format(
                dur, actors,
                fmt(cv, digits=4) if c else (capi_skip or "not run"),
                fmt(mv, digits=4),
                fmt(kv, digits=4) if k else (rk_skip or "not run"),
                f"{kv / cv:.1f}x" if cv and kv else "-",
                f"{kv / mv:.1f}x" if mv and kv else "-"))


def enqueue_row(out, label, e, f):
    """A target row: enqueue figure E against floor F, if both were measured."""
    if e and f and f.get("us"):
        r = e["us"] / f["us"]
        out.append(f"| {label} | {e['us']:.1f} vs {f['us']:.1f} µs | {r:.2f}x | {verdict(r <= TARGET_ENQUEUE_RATIO)} |")


def targets(rows, out):
    out.append("| target | measured | ratio | verdict |")
    out.append("|---|---|---|---|")
    for dur in ("full", "normal"):
        c = pick(rows, "capi", durability=dur, actors=1)
        k = pick(rows, "rivetkit", durability=dur, actors=1)
        name = f"per-step cost >= {TARGET_STEP_RATIO:g}x lower than RivetKit ({dur}, 1 actor, C API)"
        if c and k and c.get("ms_per_step"):
            r = k["ms_per_step"] / c["ms_per_step"]
            out.append(f"| {name} | {c['ms_per_step']:.4f} vs {k['ms_per_step']:.4f} ms | {r:.1f}x | {verdict(r >= TARGET_STEP_RATIO)} |")
        else:
            why = ((not c and (skipped(rows, "capi") or "C API benchmark not run"))
                   or skipped(rows, "rivetkit") or "RivetKit not run")
            out.append(f"| {name} | not measured: {why} | - | not measured |")

    e = (pick(rows, "enqueue", durability="normal", source="fs_bench", writers=1)
         or pick(rows, "enqueue", durability="normal"))
    f = pick(rows, "floor", name="nullfs")
    name = f"enqueue through the mount within {TARGET_ENQUEUE_RATIO:g}x of the null-FUSE floor (normal)"
    if e and f and f.get("us"):
        r = e["us"] / f["us"]
        out.append(f"| {name} | {e['us']:.1f} vs {f['us']:.1f} µs | {r:.2f}x | {verdict(r <= TARGET_ENQUEUE_RATIO)} |")
    else:
        out.append(f"| {name} | not measured: {skipped(rows, 'enqueue') or skipped(rows, 'nullfs') or 'not run'} | - | not measured |")

    e = pick(rows, "enqueue", durability="normal", source="fs_bench_sink", writers=1)
    enqueue_row(out, f"{name}, into a queue nothing takes from", e, f)
    # With --io-uring: the same target against the same floor, then
    # against a null filesystem served over io_uring too (diagnostic).
    fu = pick(rows, "floor", name="nullfs_uring")
    for src, what in (("fs_bench_uring", ""), ("fs_bench_sink_uring", ", into a queue nothing takes from")):
        e = pick(rows, "enqueue", durability="normal", source=src, writers=1)
        enqueue_row(out, f"{name}{what}, requests over io_uring (--io-uring)", e, f)
        enqueue_row(out, f"{name}{what}, both over io_uring (diagnostic)", e, fu)
    if not pick(rows, "enqueue", source="fs_bench_uring"):
        why = skipped(rows, "io_uring")
        if why:
            out.append(f"| {name}, requests over io_uring (--io-uring) | not measured: {why} | - | not measured |")
    # The null floor whose flush is busy as long as actorfs works per
    # enqueue: what the same round trips cost a daemon doing that work.
    fw = pick(rows, "floor", name="nullfs_work")
    e = pick(rows, "enqueue", durability="normal", source="fs_bench_sink", writers=1)
    if e and fw and fw.get("us"):
        r = e["us"] / fw["us"]
        out.append(f"| enqueue alone against a null FUSE whose flush is busy as long as actorfs's own time per enqueue (diagnostic) | {e['us']:.1f} vs {fw['us']:.1f} µs | {r:.2f}x | - |")
    # The same turns with the writer and both daemons on one CPU: no CPU
    # to wake, so the software's own cost (a diagnostic beside the target).
    fp = pick(rows, "floor", name="nullfs_pinned")
    for src, what in (("fs_bench_pinned", ""), ("fs_bench_sink_pinned", ", into a queue nothing takes from")):
        e = pick(rows, "enqueue", durability="normal", source=src, writers=1)
        enqueue_row(out, f"{name}{what}, writer and daemons on one CPU (diagnostic)", e, fp)

    # Two workloads: the counter's workflow consuming what the writers
    # enqueue (it competes with them for the CPUs), and the enqueue alone.
    for src, what in (("fs_bench", "C writers, the counter's workflow consuming"),
                      ("fs_bench_sink", "C writers, nothing consuming")):
        w = pick(rows, "mount_writers", durability="full", source=src, writers=16)
        if src == "fs_bench":
            w = w or pick(rows, "mount_writers", durability="full")
        name = f"16 writers >= {TARGET_WRITERS_RATE:,.0f} acknowledged messages/s (full)"
        if w:
            r = w["msgs_per_s"] / TARGET_WRITERS_RATE
            how = what if w.get("source", "").startswith("fs_bench") else "bash writers"
            out.append(f"| {name} | {w['msgs_per_s']:,.0f} msg/s ({w['writers']} {how}) | {r:.2f}x of target | {verdict(r >= 1)} |")
        elif src == "fs_bench":
            out.append(f"| {name} | not measured | - | not measured |")

    i = pick(rows, "idle")
    name = f"100,000 idle actors under {TARGET_IDLE_MB:g} MB RSS"
    if i:
        r = i["rss_mb"] / TARGET_IDLE_MB
        v = verdict(i["rss_mb"] < TARGET_IDLE_MB) if i["actors"] >= 100000 else "not at full size"
        out.append(f"| {name} | {i['rss_mb']:.1f} MB for {i['actors']:,} actors | {r:.2f}x of bound | {v} |")
    else:
        out.append(f"| {name} | not measured: {skipped(rows, 'idle') or 'not run'} | - | not measured |")

    rc = pick(rows, "recovery")
    name = f"10,000 workflows resumed after kill -9 in under {TARGET_RECOVERY_MS / 1000:g} s"
    if rc:
        r = rc["resume_all_ms"] / TARGET_RECOVERY_MS
        v = verdict(r < 1) if rc["workflows"] >= 10000 else "not at full size"
        out.append(f"| {name} | {rc['resume_all_ms']:.0f} ms for {rc['workflows']:,} | {r:.2f}x of bound | {v} |")
    else:
        out.append(f"| {name} | not measured: {skipped(rows, 'recovery') or 'not run'} | - | not measured |")

    rp = [r for r in rows if r.get("bench") == "replay"]
    name = f"replay flat in finished iterations (p50 longest / shortest <= {TARGET_REPLAY_FLAT:g})"
    if len(rp) >= 2 and rp[0]["evict_ms_p50"] > 0:
        r = rp[-1]["evict_ms_p50"] / rp[0]["evict_ms_p50"]
        out.append(f"| {name} | {rp[0]['evict_ms_p50']:.3f} ms at {rp[0]['iterations']:,}, {rp[-1]['evict_ms_p50']:.3f} ms at {rp[-1]['iterations']:,} | {r:.2f}x | {verdict(r <= TARGET_REPLAY_FLAT)} |")
    else:
        out.append(f"| {name} | not measured: {skipped(rows, 'replay') or 'not run'} | - | not measured |")


def chart(rows, svg, workdir):
    """Grouped bars, one group per (durability, actors), via gnuplot."""
    if shutil.which("gnuplot") is None:
        return "gnuplot is not installed; no chart"
    dat = os.path.join(workdir, "steps.dat")
    with open(dat, "w") as f:
        f.write("# group capi mount rivetkit\n")
        for dur in ("full", "normal"):
            for actors in (1, 100):
                vals = []
                for b in ("capi", "mount", "rivetkit"):
                    r = pick(rows, b, durability=dur, actors=actors)
                    vals.append(f"{r['ms_per_step']:.4f}" if r else "NaN")
                f.write(f'"{dur}, {actors} actor{"s" if actors > 1 else ""}" ' + " ".join(vals) + "\n")
    # Rounded labels and values on the bars keep the chart readable.
    script = f"""
set terminal {{term}}
set output '{{out}}'
set title 'The seed loop: ms per step, lower is better (one run; medians of its rounds)'
set ylabel 'ms per step'
set style data histogram
set style histogram clustered gap 1.5
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set key top right
set datafile missing 'NaN'
plot '{dat}' using 2:xtic(1) title 'actorfs, C API' lc rgb '#1b7837', \\
     '' using 3 title 'actorfs, through the mount' lc rgb '#5aae61', \\
     '' using 4 title 'RivetKit workflow engine' lc rgb '#c51b7d', \\
     '' using ($0-0.3):2:(sprintf('%.2f',$2)) with labels offset 0,0.6 font ',9' notitle, \\
     '' using ($0):3:(sprintf('%.2f',$3)) with labels offset 0,0.6 font ',9' notitle, \\
     '' using ($0+0.3):4:(sprintf('%.2f',$4)) with labels offset 0,0.6 font ',9' notitle
"""
    script = (script.replace("{term}", "svg size 960,500 dynamic enhanced font 'sans,12' background '#ffffff'")
              .replace("{out}", svg))
    p = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
    if p.returncode != 0:
        return f"gnuplot failed: {p.stderr.strip()}"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("--out", required=True, help="BENCHMARKS.md to write")
    ap.add_argument("--svg", required=True, help="the chart to write")
    ap.add_argument("--command", default="scripts/bench")
    ap.add_argument("--data-dir", default="/tmp", help="where the data lived")
    ap.add_argument("--started", default="")
    ap.add_argument("--seconds", type=float, default=0)
    a = ap.parse_args()
    rows = load(a.results)

    out = ["# actorfs benchmarks", ""]
    out.append(f"Written by `{a.command}` (tests/bench/report.py) from one run"
               + (f" started {a.started}" if a.started else "")
               + (f", {a.seconds / 60:.0f} minutes in all" if a.seconds else "") + ".")
    out.append("Every figure below comes from that run; a figure that could not be "
               "measured says why. The machine is a virtual machine with "
               f"{os.cpu_count()} CPUs, which may serve other work during the run, and "
               "where waking a sleeping CPU is slow and its cost drifts: "
               "compare ratios within this run rather than absolute times across runs.")
    out += ["", "## The machine", "", "| | |", "|---|---|"]
    for k, v in machine(a.data_dir):
        out.append(f"| {k} | {v} |")
    for what in ("git", "node", "sqlite"):
        r = pick(rows, "info", what=what)
        if r:
            out.append(f"| {what} | {r['value']} |")

    notes = [r["value"] for r in rows if r.get("bench") == "info" and r.get("what") == "build note"]
    if notes:
        out += [""] + [f"Build note: {n}." for n in notes]

    out += ["", "## Targets", ""]
    targets(rows, out)

    loops = [r for r in rows if r.get("bench") in ("capi", "mount", "rivetkit")]
    nmsg = f"{loops[0]['messages']:,}" if loops else "1,000"
    out += ["", "## The seed's loop: per-step cost", "",
            "One message on a queue, then three no-op steps and a step that "
            f"updates the state; {nmsg} messages, on one actor or spread over 100. "
            "ms per step = wall time from the first enqueue until the last "
            "message is recorded, over 4 steps per message (the queue wait is "
            "not counted as a step, on either side). actorfs through the C API "
            "is the engine's own benchmark (tests/bench/eng_bench.c); through "
            "the mount, bash's builtin `echo` writes each message into "
            "`queues/work/new` of the seedloop plugin "
            "(tests/bench/seedloop_plugin.c, loaded with `--load`) and the run "
            "ends when `state.json` shows every message; RivetKit is "
            "`@rivetkit/workflow-engine` on Node 22 with a SQLite storage "
            "driver in WAL mode (tests/bench/rivetkit/bench.mjs), each enqueue "
            "and each step flush one commit, synchronous FULL or NORMAL.", ""]
    c = pick(rows, "capi", durability="full", actors=1) or pick(rows, "rivetkit", durability="full", actors=1)
    if c and c.get("rounds"):
        out += [f"The three took turns, {c['rounds']} rounds; each figure is "
                "the median of its rounds.", ""]
    step_table(rows, out)
    out += ["", "![ms per step](benchmarks.svg)", ""]

    out += ["## Enqueue through the mount and its floors", "",
            "tests/bench/fs_bench.c: a C writer opens `queues/NAME/new`, writes "
            "one message and closes; close() returning 0 is the acknowledgement, "
            "so the latency is open to close returning. Two queues: the counter's "
            "`add`, whose workflow consumes each message (on 2 CPUs it competes "
            "with the writer), and the seedloop plugin's `sink`, which no workflow "
            "takes from (the enqueue alone). With one writer, the null-FUSE floor, "
            "the sink and the counter take turns in rounds, nullfs mounted beside "
            "actorfs, and each figure is the median of its rounds: on this virtual "
            "machine the cost of a FUSE round trip drifts by 2x within a minute, so "
            "a floor measured apart would compare two machines. After each counter "
            "turn its workflow finishes its backlog before the next turn. The turns "
            "also run with the writer and both daemons pinned to one CPU (first): "
            "with no sleeping CPU to wake, what remains is the software's own cost, "
            "and what the sink costs there beyond the floor is actorfs's own time per "
            "enqueue. A second null floor, whose flush keeps its CPU busy that long "
            "before it answers, takes its turn with the others: the difference "
            "between it and actorfs is where the kernel runs the requests, not "
            "work. The floors from tests/bench/floors.c include what one wake-up "
            "costs: two threads passing a byte over pipes on one CPU, and on two. "
            "Where the kernel has FUSE over io_uring (Linux 6.14+, switched on for "
            "the run), nullfs and actorfs with `--io-uring` take turns as well: "
            "each request is then served by a thread bound to the CPU that made "
            "it (fs/uring.c). Last, the null floor and both sinks once more, one "
            "round of as many messages as the multi-writer runs, while a spinning "
            "thread per CPU keeps every CPU busy: their p99 shows whether a ring "
            "thread waiting as SCHED_IDLE is starved (it must notice and wait as an "
            "ordinary thread).",
            ""]
    out.append("| what | durability | figure |")
    out.append("|---|---|---|")
    for r in merged(rows, "floor", ("name", "label")):
        src = r.get("source", "floors" if "count" in r else "fs_bench")
        rounds = f", median of {r['rounds']} rounds" if r.get("rounds") else ""
        if "busy" in r["name"] and r.get("p99_us"):
            rounds = f", p99 {r['p99_us']:.1f} µs" + rounds
        out.append(f"| floor: {r.get('label', r['name'])} ({src}) | - | {r['us']:.1f} µs p50{rounds} |")
    for r in merged(rows, "enqueue", ("source", "durability", "writers")):
        rate = f", {r['msgs_per_s']:,.0f} msg/s" if r.get("msgs_per_s") else ""
        if "busy" in r.get("source", "") and r.get("p99_us"):
            rate = f", p99 {r['p99_us']:.1f} µs" + rate
        rounds = f", median of {r['rounds']} rounds" if r.get("rounds") else ""
        out.append(f"| {r.get('label', 'enqueue through the mount')} ({r.get('source', '')}) "
                   f"| {r['durability']} | {r['us']:.1f} µs p50{rate}{rounds} |")
    for r in merged(rows, "mount_writers", ("source", "durability", "writers")):
        if not r.get("source", "").startswith("fs_bench"):
            out.append(f"| {r['writers']} bash writers, {r['messages']:,} messages into one queue nothing consumes | {r['durability']} | {r['msgs_per_s']:,.0f} acknowledged msg/s |")
    for what in ("nullfs", "enqueue", "fdatasync", "io_uring"):
        why = skipped(rows, what)
        if why:
            out.append(f"| {what} | - | {why} |")

    out += ["", "## Idle actors", ""]
    i = pick(rows, "idle")
    if i:
        out.append(f"{i['actors']:,} counter actors parked on queue `add` "
                   f"(durability {i['durability']}), created in {i['create_s']:.1f} s "
                   f"from 8 threads, all parked {i['park_s']:.1f} s later. Process RSS "
                   f"{i['rss_base_kb'] / 1024:.1f} MB before creating them, "
                   f"{i['rss_parked_kb'] / 1024:.1f} MB once all were parked "
                   f"(heap in use {i['heap_parked_mb']:.1f} MB), and "
                   f"{i['rss_mb']:.1f} MB after {i['settle_s']} s more idle, when the "
                   f"engine has evicted them (heap in use {i['heap_mb']:.1f} MB): "
                   f"{i['bytes_per_actor']:,.0f} bytes of RSS per actor. "
                   + (f"(Diagnostic: after malloc_trim(0), which the engine does not "
                      f"call, RSS would be {i['rss_after_trim_kb'] / 1024:.1f} MB.) "
                      if "rss_after_trim_kb" in i else "")
                   + f"Waking {i['wakes']:,} random ones (enqueue until the state "
                   f"changes): p50 {i['wake_p50_ms']:.3f} ms, p99 {i['wake_p99_ms']:.3f} ms.")
    else:
        out.append(f"Not measured: {skipped(rows, 'idle') or 'not run'}.")

    out += ["", "## Recovery after kill -9", ""]
    rc = pick(rows, "recovery")
    if rc:
        out.append(f"A child process made {rc['workflows']:,} actors, each with an "
                   f"acknowledged message and a step that could not finish, and was "
                   f"killed with SIGKILL (setup {rc['setup_s']:.1f} s, durability "
                   f"{rc['durability']}). Reopening took {rc['open_start_ms']:.0f} ms "
                   f"(eng_open + eng_start); every workflow had run its step and "
                   f"changed its state {rc['resume_all_ms']:.0f} ms after the reopen began.")
    else:
        out.append(f"Not measured: {skipped(rows, 'recovery') or 'not run'}.")

    out += ["", "## Replay against history length (compaction on)", ""]
    rp = [r for r in rows if r.get("bench") == "replay"]
    if rp:
        out.append("One actor per length, its loop (queue wait, one step) run N "
                   "times; then median ms from enqueue to state change over "
                   f"{rp[0]['samples']} more messages each, the actors taking turns "
                   "so that the machine's drifting load falls on all alike: with "
                   "the engine in evict-always mode (every message replays the "
                   "actor from the journal), then kept in memory (warm). replay = "
                   "the difference; within noise, it should not grow with N.")
        out += ["", "| finished iterations | warm p50 ms | evict+replay p50 ms | replay ms |", "|---|---|---|---|"]
        for r in rp:
            out.append(f"| {r['iterations']:,} | {r['warm_ms_p50']:.3f} | {r['evict_ms_p50']:.3f} | {r['replay_ms']:.3f} |")
    else:
        out.append(f"Not measured: {skipped(rows, 'replay') or 'not run'}.")

    raws = [r for r in rows if r.get("bench") == "raw"]
    if raws:
        out += ["", "## Other modules' benchmarks, as printed", ""]
        for r in raws:
            out += [f"### {r['what']}", "", "```", r["text"].rstrip(), "```", ""]

    skips = [r for r in rows if r.get("bench") == "skip"]
    if skips:
        out += ["", "## Not measured", ""]
        for r in skips:
            out.append(f"- {r['what']}: {r['reason']}")

    why = chart(rows, a.svg, os.path.dirname(os.path.abspath(a.results)))
    if why:
        out += ["", f"(No chart: {why}.)"]
    with open(a.out, "w") as f:
        f.write("\n".join(out).rstrip() + "\n")


if __name__ == "__main__":
    main()
