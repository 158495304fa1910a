/**
 * The bad-input suite (issue #17): several hundred hostile requests from one table
 * (tests/fixtures/hostile/cases.ts), grouped by route and kind (malformed JSON, wrong types,
 * out-of-range numbers, huge and nested values, unicode, bad media, SSRF targets, bad schemas and
 * tools, wrong methods, lying headers, auth), against one `serve` on the tiny pair with an API key
 * and private URLs refused. Each case must get what a correct server answers: a 4xx with the
 * route's error body (OpenAI's `{error: {message, type, param, code}}`, Ollama's `{error: "..."}`),
 * or a 2xx where the input is valid; never a 5xx, never a hang (each request has a client
 * timeout), never an error hidden inside a 2xx stream. Cases run concurrently in small batches,
 * and after every batch an ordinary chat must still be served. Prints a summary per route and kind.
 */

import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import { type Expect, type HostileCase, hostileCases } from "./fixtures/hostile/cases.ts";
import { models, startServer, type TestServer } from "./helpers.ts";

const MODEL = "tiny";
const KEY = "hostile-key-0123456789";
const MAX_BODY_MB = 16;
const MAX_IMAGES = 4;
const BATCH = 8;
/** no request may take longer than this (the slowest legitimate case is a 36 MP decode on the tiny model) */
const CLIENT_TIMEOUT_MS = 60_000;
const m = models();
let server: TestServer;

before(async () => {
  server = await startServer("node", [
    "--model",
    m.llm,
    "--mmproj",
    m.mmproj16x,
    "--model-name",
    MODEL,
    "--threads",
    "2",
    // 768 tokens a sequence: room for a 36 MP image's tokens, and generating to the end stays short
    "--ctx-size",
    "1536",
    "--parallel",
    "2",
    "--queue",
    "64",
    "--api-key",
    KEY,
    "--max-body-mb",
    String(MAX_BODY_MB),
    "--max-images",
    String(MAX_IMAGES),
    "--request-timeout",
    "3",
    "--image-timeout",
    "5",
  ]);
});
after(async () => await server?.stop());

interface Outcome {
  status: number;
  /** the response body as text ("" for none) */
  text: string;
  ms: number;
  /** a client-side failure: timeout (a hang) or a dropped connection */
  error?: string;
}

/** A request fetch will not send (lying lengths, broken chunking, TRACE, Expect) as raw HTTP/1.1. */
function rawRequest(c: HostileCase): string {
  if (c.socket) return c.socket;
  const body = typeof c.raw === "string" ? c.raw : c.body === undefined ? "" : JSON.stringify(c.body);
  const headers = {
    host: "localhost",
    connection: "close",
    ...(c.noAuth ? {} : { authorization: `Bearer ${KEY}` }),
    ...(body ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) } : {}),
    ...c.headers,
  };
  return `${c.method} ${c.path} HTTP/1.1\r\n${
    Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")
  }\r\n${body}`;
}

/** Sends raw bytes on a new connection; the first response's status and body (until close or timeout). */
function sendRaw(request: string): Promise<Outcome> {
  const { hostname, port } = new URL(server.url);
  const t0 = performance.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = connect(Number(port), hostname);
    const done = (error?: string) => {
      clearTimeout(timer);
      socket.destroy();
      // interim 1xx answers (100 Continue) come before the response
      const all = Buffer.concat(chunks).toString("latin1").replace(/^(HTTP\/1\.[01] 1\d\d[^\r]*\r\n\r\n)+/, "");
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(all)?.[1] ?? 0);
      const bodyStart = all.indexOf("\r\n\r\n");
      let text = bodyStart < 0 ? "" : all.slice(bodyStart + 4);
      // a chunked error body: keep the JSON between its first "{" and last "}"
      if (/transfer-encoding: chunked/i.test(all.slice(0, bodyStart))) {
        text = text.slice(text.indexOf("{"), text.lastIndexOf("}") + 1);
      }
      resolve({ status, text, ms: performance.now() - t0, error: status ? undefined : error ?? "no response" });
    };
    const timer = setTimeout(() => done("timeout"), CLIENT_TIMEOUT_MS);
    socket.on("data", (d) => {
      chunks.push(d);
      // one response is enough (a truncated body leaves bytes that the server reads as another request)
      const s = Buffer.concat(chunks).toString("latin1").replace(/^(HTTP\/1\.[01] 1\d\d[^\r]*\r\n\r\n)+/, "");
      const head = s.indexOf("\r\n\r\n");
      const length = /content-length: (\d+)/i.exec(s.slice(0, head))?.[1];
      if (head >= 0 && length !== undefined && s.length >= head + 4 + Number(length)) done();
    });
    socket.on("error", (e) => done(e.message));
    socket.on("close", () => done("closed"));
    socket.write(Buffer.from(request, "latin1"));
  });
}

async function send(c: HostileCase): Promise<Outcome> {
  if (c.socket || c.method === "TRACE" || c.headers?.expect) return await sendRaw(rawRequest(c));
  const t0 = performance.now();
  const headers: Record<string, string> = {
    ...(c.body !== undefined ? { "content-type": "application/json" } : {}),
    ...(c.noAuth ? {} : { authorization: `Bearer ${KEY}` }),
    ...c.headers,
  };
  for (const [k, v] of Object.entries(headers)) if (v === "") delete headers[k];
  const body = c.raw ?? (c.body === undefined ? undefined : JSON.stringify(c.body));
  try {
    const res = await fetch(server.url + c.path, {
      method: c.method,
      headers,
      body: body as BodyInit | undefined,
      signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
    });
    const text = await res.text();
    return { status: res.status, text, ms: performance.now() - t0 };
  } catch (e) {
    const name = (e as Error).name;
    return { status: 0, text: "", ms: performance.now() - t0, error: name === "TimeoutError" ? "timeout" : String(e) };
  }
}

function matches(expect: Expect, status: number): boolean {
  if (expect === "2xx") return status >= 200 && status < 300;
  if (expect === "4xx") return status >= 400 && status < 500;
  if (expect === "any") return status >= 200 && status < 500;
  return status === expect;
}

/** What is wrong with an outcome, or undefined when it is what a correct server answers. */
function judge(c: HostileCase, o: Outcome): string | undefined {
  if (o.error) return o.error === "timeout" ? `hang (no answer in ${CLIENT_TIMEOUT_MS / 1000} s)` : o.error;
  if (o.status >= 500) return `server error ${o.status}: ${o.text.slice(0, 300)}`;
  if (!matches(c.expect, o.status)) return `expected ${c.expect}, got ${o.status}: ${o.text.slice(0, 300)}`;
  const shape = c.shape ?? (c.path.startsWith("/api/") ? "ollama" : "openai");
  if (o.status >= 400 && shape !== "none" && c.method !== "HEAD") {
    let body: { error?: unknown };
    try {
      body = JSON.parse(o.text);
    } catch {
      return `a ${o.status} without a JSON body: ${JSON.stringify(o.text.slice(0, 200))}`;
    }
    if (shape === "ollama") {
      if (typeof body.error !== "string" || !body.error) return `not an Ollama error body: ${o.text.slice(0, 200)}`;
    } else {
      const e = body.error as Record<string, unknown> | undefined;
      const ok = e && typeof e.message === "string" && e.message && typeof e.type === "string" &&
        (e.param === null || typeof e.param === "string") && (e.code === null || typeof e.code === "string");
      if (!ok) return `not an OpenAI error body: ${o.text.slice(0, 200)}`;
    }
  }
  if (o.status < 300) {
    // an error after the headers went out is still a failed request
    const hidden = o.text.split("\n").find((l) => /^(data: )?\{"error"/.test(l));
    if (hidden) return `an error inside a ${o.status} stream: ${hidden.slice(0, 300)}`;
  }
  return undefined;
}

/** An ordinary chat, which must be served after every batch. */
async function normalChat(): Promise<string | undefined> {
  const o = await send({
    route: "chat",
    kind: "valid",
    name: "probe",
    method: "POST",
    path: "/v1/chat/completions",
    body: { model: MODEL, max_tokens: 4, temperature: 0, messages: [{ role: "user", content: "Say hello." }] },
    expect: "2xx",
  });
  if (o.status !== 200) return `the probe chat got ${o.status || o.error}: ${o.text.slice(0, 300)}`;
  if (typeof JSON.parse(o.text).choices?.[0]?.message?.content !== "string") return `probe: ${o.text.slice(0, 300)}`;
}

test("node: hundreds of hostile requests get a 4xx in the route's error shape (or a 2xx when valid), the server keeps serving", async () => {
  const cases = hostileCases({
    model: MODEL,
    apiKey: KEY,
    testJpeg: m.testJpeg,
    maxBodyBytes: MAX_BODY_MB * 1024 * 1024,
    maxImages: MAX_IMAGES,
  });
  assert.ok(cases.length >= 300, `${cases.length} cases`);
  const failures: string[] = [];
  const summary = new Map<
    string,
    { n: number; s2: number; s4: number; s5: number; hang: number; fail: number; ms: number }
  >();
  const t0 = performance.now();
  for (let i = 0; i < cases.length; i += BATCH) {
    const batch = cases.slice(i, i + BATCH);
    const outcomes = await Promise.all(batch.map(send));
    batch.forEach((c, k) => {
      const o = outcomes[k];
      const key = `${c.route}\t${c.kind}`;
      const row = summary.get(key) ?? { n: 0, s2: 0, s4: 0, s5: 0, hang: 0, fail: 0, ms: 0 };
      row.n++;
      row.ms = Math.max(row.ms, o.ms);
      if (o.error === "timeout") row.hang++;
      else if (o.status >= 500) row.s5++;
      else if (o.status >= 400) row.s4++;
      else if (o.status >= 200) row.s2++;
      const wrong = judge(c, o);
      if (wrong) {
        row.fail++;
        failures.push(`[${c.route}/${c.kind}] ${c.method} ${c.path.slice(0, 60)} "${c.name}": ${wrong}`);
      }
      summary.set(key, row);
    });
    const probe = await normalChat();
    if (probe) failures.push(`after batch ${i / BATCH} (${batch.map((c) => c.name).join("; ")}): ${probe}`);
  }
  const seconds = (performance.now() - t0) / 1000;
  console.log(`  ${cases.length} cases in ${seconds.toFixed(1)} s (batches of ${BATCH}, a normal chat after each)`);
  console.log("  route\tkind\tcases\t2xx\t4xx\t5xx\thang\twrong\tslowest ms");
  for (const [key, r] of [...summary].sort(([a], [b]) => a.localeCompare(b))) {
    console.log(`  ${key}\t${r.n}\t${r.s2}\t${r.s4}\t${r.s5}\t${r.hang}\t${r.fail}\t${r.ms.toFixed(0)}`);
  }
  for (const f of failures) console.log(`  FAIL ${f}`);

  // at the end: still healthy, nothing left running or queued, and an ordinary chat is served
  const health = await fetch(`${server.url}/health`);
  assert.equal(health.status, 200, await health.text());
  const metrics = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).text();
  assert.match(metrics, /^minicpmv_requests_active 0$/m);
  assert.match(metrics, /^minicpmv_queue_depth 0$/m);
  assert.equal(await normalChat(), undefined);
  assert.deepEqual(failures, [], `${failures.length} of ${cases.length} cases answered wrongly`);
});
