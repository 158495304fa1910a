/**
 * Slow and stalled clients against `serve` on the tiny pair, on Deno, Bun and Node, through raw
 * sockets (so the test controls every byte and sees when the server closes): a slowloris client
 * dripping its headers, a client that declares a body and stalls (408, connection closed), an
 * idle keep-alive connection, a normal request and a slow-to-compute streaming request served
 * meanwhile (the timeouts never cut a response being computed or streamed), and the cap on
 * connections (--max-connections). Timings are printed, and asserted only within generous bounds.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { models, type RuntimeName, startServer, type TestServer } from "./helpers.ts";

const m = models();
const MODEL = "tiny-llm";
/** --request-timeout, seconds */
const TIMEOUT_S = 1;
const MAX_CONNECTIONS = 6; // above the 4 connections the first test holds at once, with room for one closing late
/** generous: every close or answer this test waits for must come within this */
const BOUND_MS = 10_000;
/** how long the image server takes to answer: longer than the request timeout */
const SLOW_IMAGE_MS = 2500;

/** A raw TCP connection to the server: what it received, and when (ms after connecting) it closed. */
interface RawConnection {
  socket: Socket;
  received(): string;
  closed: Promise<number>;
}

function open(url: string): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    let data = "";
    const t0 = performance.now();
    const closed = new Promise<number>((r) => socket.on("close", () => r(performance.now() - t0)));
    socket.on("data", (d) => (data += d));
    socket.on("error", () => {}); // a reset is a close, seen through `closed`
    socket.once("connect", () => resolve({ socket, received: () => data, closed }));
    socket.once("error", reject);
  });
}

/** Resolves to `p`'s value, or fails once `ms` have passed. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

function httpRequest(method: string, path: string, headers: Record<string, string>, body = ""): string {
  const lines = [
    `${method} ${path} HTTP/1.1`,
    "Host: localhost",
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  return `${lines.join("\r\n")}\r\n\r\n${body}`;
}

/** A complete request with `Connection: close`: the response's status and text, once the server closes. */
async function exchange(url: string, method: string, path: string, body?: unknown) {
  const c = await open(url);
  const text = body === undefined ? "" : JSON.stringify(body);
  const headers: Record<string, string> = { connection: "close" };
  if (body !== undefined) {
    Object.assign(headers, { "content-type": "application/json", "content-length": `${text.length}` });
  }
  c.socket.write(httpRequest(method, path, headers, text));
  const ms = await within(c.closed, 60_000, `${method} ${path}`);
  return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(c.received())?.[1] ?? 0), text: c.received(), ms };
}

const sayHello = { model: MODEL, messages: [{ role: "user", content: "Say hello." }], temperature: 0, max_tokens: 8 };

/** Opens a connection that declares a 1000-byte body, sends a few bytes of it and stalls. */
async function stalledBody(url: string): Promise<RawConnection> {
  const c = await open(url);
  const headers = { "content-type": "application/json", "content-length": "1000" };
  c.socket.write(httpRequest("POST", "/v1/chat/completions", headers, '{"model": "tiny-llm", "mess'));
  return c;
}

let imageServer: Server;
let imageUrl: string;

before(async () => {
  const jpeg = readFileSync(m.testJpeg);
  imageServer = createServer((_, res) => {
    setTimeout(() => res.writeHead(200, { "content-type": "image/jpeg" }).end(jpeg), SLOW_IMAGE_MS);
  });
  await new Promise<void>((r) => imageServer.listen(0, "127.0.0.1", r));
  imageUrl = `http://127.0.0.1:${(imageServer.address() as { port: number }).port}/slow.jpg`;
});

after(() => {
  imageServer.closeAllConnections();
  imageServer.close();
});

for (const runtime of (process.env.MCE_SERVER_RUNTIMES?.split(",") ?? ["deno", "bun", "node"]) as RuntimeName[]) {
  let server: TestServer;

  test(`${runtime}: serve starts with --request-timeout ${TIMEOUT_S} --max-connections ${MAX_CONNECTIONS}`, async () => {
    server = await startServer(runtime, [
      "--model",
      m.llm,
      "--mmproj",
      m.mmproj16x,
      "--threads",
      "1",
      "--ctx-size",
      "2048",
      "--request-timeout",
      String(TIMEOUT_S),
      "--max-connections",
      String(MAX_CONNECTIONS),
      "--allow-private-urls", // the slow image is on 127.0.0.1
    ]);
    assert.equal((await exchange(server.url, "GET", "/health")).status, 200);
  });

  test(`${runtime}: slowloris and stalled bodies are closed; normal and slow-to-compute requests go on`, async () => {
    // (a) headers dripped a byte at a time, never finished
    const slowloris = await open(server.url);
    slowloris.socket.write("POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nX-Slow: ");
    const drip = setInterval(() => slowloris.socket.destroyed || slowloris.socket.write("a"), 100);
    // (b) a declared body that stalls
    const stalled = await stalledBody(server.url);
    // (c) meanwhile: an ordinary request, and a streamed one that computes longer than the timeout
    // (its image URL answers after SLOW_IMAGE_MS) before its first token
    const normal = exchange(server.url, "POST", "/v1/chat/completions", sayHello);
    const slowImage = exchange(server.url, "POST", "/v1/chat/completions", {
      ...sayHello,
      stream: true,
      messages: [{
        role: "user",
        content: [{ type: "image_url", image_url: { url: imageUrl } }, { type: "text", text: "What is it?" }],
      }],
    });
    try {
      const slowlorisMs = await within(slowloris.closed, BOUND_MS, "slowloris close");
      const stalledMs = await within(stalled.closed, BOUND_MS, "stalled body close");
      const n = await normal;
      const s = await slowImage;
      console.log(
        `${runtime}: slowloris closed after ${slowlorisMs.toFixed(0)} ms (answer: ${
          JSON.stringify(slowloris.received().split("\r\n")[0])
        }); stalled body closed after ${stalledMs.toFixed(0)} ms; normal request ${n.ms.toFixed(0)} ms; ` +
          `slow-image stream ${s.ms.toFixed(0)} ms`,
      );
      assert.match(stalled.received(), /^HTTP\/1\.1 408 /);
      assert.match(stalled.received(), /"code":"request_timeout"/);
      assert.match(stalled.received(), /\r\nconnection: close\r\n/i);
      assert.equal(n.status, 200, n.text);
      assert.match(n.text, /"object":"chat\.completion"/);
      assert.equal(s.status, 200, s.text);
      assert.ok(s.ms >= SLOW_IMAGE_MS, `the stream took ${s.ms} ms`);
      assert.match(s.text, /"finish_reason":"(stop|length)"[\s\S]*data: \[DONE\]/, "the stream ran to its end");
    } finally {
      clearInterval(drip);
      slowloris.socket.destroy();
      stalled.socket.destroy();
    }
  });

  test(`${runtime}: an idle keep-alive connection is closed`, async () => {
    const c = await open(server.url);
    c.socket.write(httpRequest("GET", "/health", {}));
    const ms = await within(c.closed, BOUND_MS, "idle keep-alive close");
    assert.match(c.received(), /^HTTP\/1\.1 200 /);
    console.log(`${runtime}: idle keep-alive connection closed ${ms.toFixed(0)} ms after connecting`);
  });

  test(`${runtime}: past --max-connections, requests are refused without affecting the server`, async () => {
    const held = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => stalledBody(server.url)));
    await new Promise((r) => setTimeout(r, 200)); // all accepted and in flight
    const extra = await exchange(server.url, "POST", "/v1/chat/completions", sayHello);
    // one past the cap is closed as soon as it is accepted, unanswered
    assert.equal(extra.text, "", "refused without an answer");
    const closes = await within(Promise.all(held.map((c) => c.closed)), BOUND_MS, "held connections close");
    for (const c of held) assert.match(c.received(), /^HTTP\/1\.1 408 /);
    const next = await exchange(server.url, "POST", "/v1/chat/completions", sayHello);
    assert.equal(next.status, 200, next.text);
    console.log(
      `${runtime}: connection ${MAX_CONNECTIONS + 1} refused in ${
        extra.ms.toFixed(0)
      } ms; the held ones got 408 after ${
        closes.map((ms) => ms.toFixed(0)).join(", ")
      } ms; the next request ${next.status} in ${next.ms.toFixed(0)} ms`,
    );
  });

  test(`${runtime}: server stops`, async () => {
    await server?.stop();
  });
}
