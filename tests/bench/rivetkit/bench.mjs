// bench.mjs - the seed's loop on RivetKit's own workflow engine
// (@rivetkit/workflow-engine), the peer that scripts/bench compares actorfs
// with.  The engine needs a storage driver; this file owns a small one on
// one SQLite file (better-sqlite3, WAL, synchronous FULL or NORMAL), with
// each workflow in its own key namespace and a durable message table, so
// that a step and an enqueue cost a real commit as they do in actorfs.
//
// The loop is the same as tests/bench/seedloop_plugin.c: queue.next ->
// three no-op steps -> a step that updates the state.  M messages are
// enqueued one by one (each committed) while N workflows run in live mode;
// the clock stops when every workflow has recorded all of its messages.
// Prints one JSON line: {"bench":"rivetkit",...,"ms_per_step":...}.
import Database from "better-sqlite3";
import { EvictedError, Loop, runWorkflow } from "@rivetkit/workflow-engine";

function parseArgs(argv) {
    const o = { db: "rivetkit-bench.db", sync: "FULL", actors: 1, messages: 1000 };
    for (let i = 2; i < argv.length; i += 2) {
        const k = argv[i].replace(/^--/, "");
        if (!(k in o) || argv[i + 1] === undefined) {
            console.error(`usage: bench.mjs [--db FILE] [--sync FULL|NORMAL] [--actors N] [--messages M]`);
            process.exit(100);
        }
        o[k] = typeof o[k] === "number" ? Number(argv[i + 1]) : argv[i + 1];
    }
    if (!["FULL", "NORMAL"].includes(o.sync) || o.messages % o.actors !== 0) {
        console.error("--sync is FULL or NORMAL; --messages must be a multiple of --actors");
        process.exit(100);
    }
    return o;
}

// The first key after every key that starts with prefix, or null (none).
function prefixEnd(prefix) {
    const end = Buffer.from(prefix);
    for (let i = end.length - 1; i >= 0; i--) {
        if (end[i] !== 0xff) {
            end[i]++;
            return end.subarray(0, i + 1);
        }
    }
    return null;
}

class Store {
    constructor(path, sync) {
        this.db = new Database(path);
        this.db.pragma("journal_mode = WAL");
        this.db.pragma(`synchronous = ${sync}`);
        this.db.exec(`CREATE TABLE IF NOT EXISTS kv (wf TEXT, key BLOB, value BLOB,
                        PRIMARY KEY (wf, key)) WITHOUT ROWID;
                      CREATE TABLE IF NOT EXISTS msg (id INTEGER PRIMARY KEY, wf TEXT,
                        name TEXT, data TEXT, sent INTEGER)`);
        const p = (sql) => this.db.prepare(sql);
        this.q = {
            get: p("SELECT value FROM kv WHERE wf = ? AND key = ?").pluck(),
            put: p("INSERT OR REPLACE INTO kv VALUES (?, ?, ?)"),
            del: p("DELETE FROM kv WHERE wf = ? AND key = ?"),
            listFrom: p("SELECT key, value FROM kv WHERE wf = ? AND key >= ? ORDER BY key"),
            listRange: p("SELECT key, value FROM kv WHERE wf = ? AND key >= ? AND key < ? ORDER BY key"),
            delFrom: p("DELETE FROM kv WHERE wf = ? AND key >= ?"),
            delRange: p("DELETE FROM kv WHERE wf = ? AND key >= ? AND key < ?"),
            addMsg: p("INSERT INTO msg (wf, name, data, sent) VALUES (?, ?, ?, ?)"),
            peekMsg: p("SELECT id, name, data, sent FROM msg WHERE wf = ? ORDER BY id LIMIT ?"),
            delMsg: p("DELETE FROM msg WHERE id = ?"),
        };
        this.waiters = new Map(); // wf -> resolve of its waitForMessages
    }
    close() {
        this.db.close();
    }
}

class SqliteMessages {
    constructor(store, wf) {
        this.s = store;
        this.wf = wf;
    }
    async addMessage(m) {
        this.s.q.addMsg.run(this.wf, m.name, JSON.stringify(m.data ?? null), m.sentAt);
        const wake = this.s.waiters.get(this.wf);
        if (wake) wake();
    }
    async receiveMessages({ names, count, completable }) {
        const rows = this.s.q.peekMsg.all(this.wf, Math.max(1, count) * 4)
            .filter((r) => !names || names.includes(r.name))
            .slice(0, Math.max(1, count));
        const take = this.s.db.transaction(() => rows.forEach((r) => this.s.q.delMsg.run(r.id)));
        if (!completable) take();
        return rows.map((r) => ({ id: String(r.id), name: r.name, data: JSON.parse(r.data), sentAt: r.sent }));
    }
    async completeMessage(id) {
        this.s.q.delMsg.run(Number(id));
    }
}

class SqliteDriver {
    constructor(store, wf) {
        this.s = store;
        this.wf = wf;
        this.q = store.q;
        this.atomicBatch = true;
        this.workerPollInterval = 100;
        this.messageDriver = new SqliteMessages(store, wf);
    }
    async get(key) {
        return this.q.get.get(this.wf, key) ?? null;
    }
    async set(key, value) {
        this.q.put.run(this.wf, key, value);
    }
    async delete(key) {
        this.q.del.run(this.wf, key);
    }
    async batchDelete(keys) {
        this.s.db.transaction(() => keys.forEach((k) => this.q.del.run(this.wf, k)))();
    }
    async deletePrefix(prefix) {
        const end = prefixEnd(prefix);
        if (end) this.q.delRange.run(this.wf, prefix, end);
        else this.q.delFrom.run(this.wf, prefix);
    }
    async deleteRange(start, end) {
        this.q.delRange.run(this.wf, start, end);
    }
    async list(prefix) {
        const end = prefixEnd(prefix);
        const rows = end ? this.q.listRange.all(this.wf, prefix, end) : this.q.listFrom.all(this.wf, prefix);
        return rows.map((r) => ({ key: new Uint8Array(r.key), value: new Uint8Array(r.value) }));
    }
    async batch(writes) {
        this.s.db.transaction(() => writes.forEach((w) => this.q.put.run(this.wf, w.key, w.value)))();
    }
    // Live mode keeps its timers in process; the loop here never sleeps.
    async setAlarm() {}
    async clearAlarm() {}
    async waitForMessages(names, signal) {
        if (signal.aborted) throw new EvictedError();
        const pending = this.q.peekMsg.all(this.wf, 64);
        if (pending.some((r) => names.length === 0 || names.includes(r.name))) return;
        await new Promise((resolve, reject) => {
            const onAbort = () => {
                this.s.waiters.delete(this.wf);
                reject(new EvictedError());
            };
            signal.addEventListener("abort", onAbort, { once: true });
            this.s.waiters.set(this.wf, () => {
                this.s.waiters.delete(this.wf);
                signal.removeEventListener("abort", onAbort);
                resolve();
            });
        });
    }
}

const noop = async () => null;

// The seed's loop; done(count) is told after each state step.
function seedLoop(done) {
    return async (ctx) =>
        ctx.loop({
            name: "loop",
            state: { count: 0, total: 0 },
            run: async (ctx, st) => {
                const m = await ctx.queue.next("wait", { names: ["work"] });
                await ctx.step("noop-1", noop);
                await ctx.step("noop-2", noop);
                await ctx.step("noop-3", noop);
                const next = await ctx.step("record", async () => ({
                    count: st.count + 1,
                    total: st.total + m.body.n,
                }));
                done(next.count);
                return Loop.continue(next);
            },
        });
}

async function main() {
    const o = parseArgs(process.argv);
    const store = new Store(o.db, o.sync);
    const per = o.messages / o.actors;
    let finished = 0;
    let allDone;
    const all = new Promise((r) => (allDone = r));
    const handles = [];
    for (let a = 0; a < o.actors; a++) {
        const driver = new SqliteDriver(store, `seedloop-${a}`);
        const fn = seedLoop((count) => {
            if (count === per && ++finished === o.actors) allDone();
        });
        handles.push(runWorkflow(`seedloop-${a}`, fn, undefined, driver, { mode: "live" }));
    }
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < per; i++)
        for (const h of handles) await h.message("work", { n: 1 });
    await all;
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    handles.forEach((h) => h.evict());
    await Promise.allSettled(handles.map((h) => h.result));
    const sqlite = store.db.prepare("SELECT sqlite_version()").pluck().get();
    store.close();
    console.log(JSON.stringify({
        bench: "rivetkit",
        durability: o.sync.toLowerCase(),
        actors: o.actors,
        messages: o.messages,
        steps: o.messages * 4,
        ms: +ms.toFixed(1),
        ms_per_step: +(ms / (o.messages * 4)).toFixed(4),
        ms_per_message: +(ms / o.messages).toFixed(4),
        node: process.version,
        sqlite,
    }));
}

main().catch((e) => {
    console.error(`rivetkit bench: ${e.stack || e}`);
    process.exit(111);
});
