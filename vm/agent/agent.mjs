// agent.mjs - the offline, deterministic ACP test agent of actorfs.
//
// It speaks the Agent Client Protocol on stdio through the official SDK
// and follows a few plain instructions found in the prompt, so that the
// examples and the tests exercise real ACP round trips (streamed chunks,
// permission requests, fs/read_text_file and fs/write_text_file, cancel)
// without a language model or a network:
//
//   replace "OLD" with "NEW" in PATH     (any number of clauses)
//   Review the code at PATH and write your findings to OUT
//   Apply the following review feedback: TEXT   (its replace clauses)
//   sleep N      (a line of its own: stream, wait N ms, honour cancel)
//   crash        (a line of its own: exit with code 3 mid-turn)
//
// Anything else gets a chunk saying it was not understood.  Every turn
// ends with end_turn (or cancelled after session/cancel).

import * as acp from "@agentclientprotocol/sdk";
import { Readable, Writable } from "node:stream";

const REPLACE = /replace "((?:[^"\\]|\\.)*)" with "((?:[^"\\]|\\.)*)" in (\/[^\s"'`]+)/g;
const REVIEW = /Review the code at (\/[^\s"'`]+) and write your findings to (\/[^\s"'`]+)/;
const FEEDBACK = "Apply the following review feedback:";
const FIXME = /FIXME: replace "((?:[^"\\]|\\.)*)" with "((?:[^"\\]|\\.)*)"/;

const sessions = new Map(); // sessionId -> { cancelled, wake }
let nextSession = 1;
let nextTool = 1;

// A path ends where the sentence does: drop trailing punctuation.
function cleanPath(p) {
  return p.replace(/[.,;:!?)\]]+$/, "");
}

function unescape(s) {
  return s.replace(/\\(.)/g, "$1");
}

async function say(client, sessionId, text) {
  await client.notify(acp.methods.client.session.update, {
    sessionId,
    update: { sessionUpdate: "agent_message_chunk", content: { type: "text", text } },
  });
}

// Asks before writing PATH; true when an allow option was selected.
async function mayWrite(client, sessionId, path, title) {
  const toolCallId = `edit-${nextTool++}`;
  const res = await client.request(acp.methods.client.session.requestPermission, {
    sessionId,
    toolCall: { toolCallId, title, kind: "edit", status: "pending", locations: [{ path }], rawInput: { path } },
    options: [
      { optionId: "allow", name: "Allow", kind: "allow_once" },
      { optionId: "reject", name: "Reject", kind: "reject_once" },
    ],
  });
  return res.outcome.outcome === "selected" && res.outcome.optionId === "allow";
}

async function readText(client, sessionId, path) {
  const res = await client.request(acp.methods.client.fs.readTextFile, { sessionId, path });
  return res.content;
}

async function writeText(client, sessionId, path, content) {
  await client.request(acp.methods.client.fs.writeTextFile, { sessionId, path, content });
}

// Applies the replace clauses of TEXT, file by file, in order.
async function applyReplacements(client, sessionId, text) {
  const clauses = [...text.matchAll(REPLACE)].map((m) => ({
    oldText: unescape(m[1]),
    newText: unescape(m[2]),
    path: cleanPath(m[3]),
  }));
  if (clauses.length === 0) return false;
  for (const { oldText, newText, path } of clauses) {
    let content;
    try {
      content = await readText(client, sessionId, path);
    } catch (e) {
      await say(client, sessionId, `Could not read ${path}: ${e.message}\n`);
      continue;
    }
    if (oldText === "" || !content.includes(oldText)) {
      await say(client, sessionId, `"${oldText}" not found in ${path}; nothing changed.\n`);
      continue;
    }
    if (!(await mayWrite(client, sessionId, path, `Replace "${oldText}" in ${path}`))) {
      await say(client, sessionId, `Permission to edit ${path} was refused; nothing changed.\n`);
      continue;
    }
    const count = content.split(oldText).length - 1;
    try {
      await writeText(client, sessionId, path, content.split(oldText).join(newText));
      await say(client, sessionId, `Replaced ${count} occurrence(s) of "${oldText}" with "${newText}" in ${path}.\n`);
    } catch (e) {
      await say(client, sessionId, `Could not write ${path}: ${e.message}\n`);
    }
  }
  return true;
}

async function review(client, sessionId, path, out) {
  let content;
  try {
    content = await readText(client, sessionId, path);
  } catch (e) {
    await say(client, sessionId, `Could not read ${path}: ${e.message}\n`);
    return;
  }
  const findings = [];
  for (const line of content.split("\n")) {
    const m = line.match(FIXME);
    if (m) findings.push(`- replace "${m[1]}" with "${m[2]}" in ${path}`);
  }
  const text = findings.length ? findings.join("\n") + "\n" : "No findings.\n";
  if (!(await mayWrite(client, sessionId, out, `Write the review of ${path} to ${out}`))) {
    await say(client, sessionId, `Permission to write ${out} was refused.\n`);
    return;
  }
  try {
    await writeText(client, sessionId, out, text);
  } catch (e) {
    await say(client, sessionId, `Could not write ${out}: ${e.message}\n`);
    return;
  }
  await say(client, sessionId, `Reviewed ${path}: ${findings.length} finding(s), written to ${out}.\n`);
}

function sleep(state, ms) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    state.wake = () => {
      clearTimeout(t);
      resolve();
    };
  });
}

async function turn(client, sessionId, state, text) {
  const lines = text.split("\n").map((l) => l.trim());
  if (lines.includes("crash")) {
    await say(client, sessionId, "Crashing, as asked.\n");
    process.exit(3);
  }
  const sleepLine = lines.map((l) => l.match(/^sleep (\d+)$/)).find(Boolean);
  if (sleepLine) {
    await say(client, sessionId, `Sleeping ${sleepLine[1]} ms.\n`);
    await sleep(state, Number(sleepLine[1]));
    if (!state.cancelled) await say(client, sessionId, "Done sleeping.\n");
    return;
  }
  const rv = text.match(REVIEW);
  if (rv) {
    await review(client, sessionId, cleanPath(rv[1]), cleanPath(rv[2]));
    return;
  }
  const at = text.indexOf(FEEDBACK);
  const scope = at >= 0 ? text.slice(at + FEEDBACK.length) : text;
  if (await applyReplacements(client, sessionId, scope)) return;
  if (at >= 0) {
    await say(client, sessionId, "The feedback asks for no change.\n");
    return;
  }
  await say(client, sessionId, "I did not understand the request; I am the actorfs test agent " +
    "and follow only: replace \"OLD\" with \"NEW\" in PATH; Review the code at PATH and write " +
    "your findings to OUT; Apply the following review feedback: ...; sleep N; crash.\n");
}

const app = acp
  .agent({ name: "actorfs-test-agent" })
  .onRequest(acp.methods.agent.initialize, () => ({
    protocolVersion: acp.PROTOCOL_VERSION,
    agentCapabilities: { loadSession: false },
    authMethods: [],
    agentInfo: { name: "actorfs-test-agent", version: "1.0.0" },
  }))
  .onRequest(acp.methods.agent.session.new, () => {
    const sessionId = `test-session-${nextSession++}`;
    sessions.set(sessionId, { cancelled: false, wake: null });
    return { sessionId };
  })
  .onRequest(acp.methods.agent.session.prompt, async ({ params, client }) => {
    const state = sessions.get(params.sessionId);
    if (!state) throw acp.RequestError.invalidParams({ sessionId: params.sessionId }, "unknown session");
    state.cancelled = false;
    const text = params.prompt
      .filter((b) => b.type === "text")
      .map((b) => b.text)
      .join("\n");
    await turn(client, params.sessionId, state, text);
    return { stopReason: state.cancelled ? "cancelled" : "end_turn" };
  })
  .onNotification(acp.methods.agent.session.cancel, ({ params }) => {
    const state = sessions.get(params.sessionId);
    if (!state) return;
    state.cancelled = true;
    if (state.wake) state.wake();
  });

const stream = acp.ndJsonStream(Writable.toWeb(process.stdout), Readable.toWeb(process.stdin));
const conn = app.connect(stream);
await conn.closed;
