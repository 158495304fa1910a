/**
 * Remote image and video URLs against a local HTTP server that misbehaves on purpose: a server
 * that never answers or trickles its body is cut off at the deadline with a 4xx-class error
 * that names it, redirect chains are capped and every hop is checked again, bodies over the
 * size cap are refused while streaming, a refused connection and a reset one read the same,
 * and private hosts are refused before anything is connected unless `allowPrivate`. Then the
 * HTTP server started without --allow-private-urls refuses a 127.0.0.1 image URL with a 400 and
 * keeps serving. The local server is private itself, so the tests that reach it allow private
 * addresses; the refusals are shown by the server never seeing the request.
 */

import assert from "node:assert/strict";
import { lookup } from "node:dns/promises";
import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";
import { hostname } from "node:os";
import { after, before, test } from "node:test";
import { AbortError, InvalidRequestError } from "../engine/ts/errors.ts";
import { type FetchLimits, loadMediaBytes } from "../engine/ts/media-source.ts";
import { models, startServer, type TestServer } from "./helpers.ts";

const IMAGE = new Uint8Array(3000).map((_, i) => i & 0xff);
let files: Server;
let base = "";
const sockets = new Set<Socket>();
const timers = new Set<ReturnType<typeof setInterval>>();
/** paths the file server was asked for */
const seen: string[] = [];

before(async () => {
  files = createServer((req, res) => {
    const url = new URL(req.url!, "http://x");
    seen.push(url.pathname);
    const redirect = /^\/hop\/(\d+)$/.exec(url.pathname);
    if (url.pathname === "/ok.bin") res.writeHead(200).end(IMAGE);
    else if (url.pathname === "/hang") { /* headers never sent */ }
    else if (url.pathname === "/trickle") {
      res.writeHead(200, { "content-length": "1000" });
      const t = setInterval(() => res.write(new Uint8Array(1)), 50);
      timers.add(t);
      res.on("close", () => clearInterval(t));
    } else if (redirect) {
      const left = Number(redirect[1]);
      res.writeHead(302, { location: left > 0 ? `/hop/${left - 1}` : "/ok.bin" }).end();
    } else if (url.pathname === "/to") res.writeHead(307, { location: url.searchParams.get("u")! }).end();
    else if (url.pathname === "/declared-big") {
      res.writeHead(200, { "content-length": "5000" }).end(new Uint8Array(5000));
    } else if (url.pathname === "/chunked-big") {
      res.writeHead(200); // no content-length: only counting while streaming can stop it
      for (let i = 0; i < 10; i++) res.write(new Uint8Array(1000));
      res.end();
    } else if (url.pathname === "/drop") req.socket.destroy(); // reset, no answer
    else res.writeHead(404).end();
  });
  files.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((r) => files.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(files.address() as { port: number }).port}`;
});

after(async () => {
  for (const t of timers) clearInterval(t);
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => files.close(() => r()));
});

const open: FetchLimits = { allowPrivate: true, timeoutMs: 5000, maxBytes: 4000 };

/** Rejects with an InvalidRequestError for `kind` whose message matches. */
async function refused(p: Promise<unknown>, pattern: RegExp, kind = "image"): Promise<string> {
  let message = "";
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof InvalidRequestError, String(e));
    assert.equal(e.param, kind);
    assert.match(e.message, pattern);
    message = e.message;
    return true;
  });
  return message;
}

test("a well-behaved URL is fetched whole", async () => {
  assert.deepEqual(await loadMediaBytes(`${base}/ok.bin`, open), IMAGE);
});

test("a server that never answers is cut off at the total deadline, which the message names", async () => {
  const t0 = performance.now();
  await refused(
    loadMediaBytes(`${base}/hang`, { ...open, timeoutMs: 600 }),
    /^image URL \S+ did not answer within 0\.6 s$/,
  );
  assert.ok(performance.now() - t0 < 5000, "cut off near the deadline, not after the runtime's own timeouts");
});

test("the connect deadline applies to the answer when it is shorter than the total", async () => {
  await refused(
    loadMediaBytes(`${base}/hang`, { ...open, connectTimeoutMs: 300, timeoutMs: 5000 }, "video"),
    /^video URL \S+ did not answer within 0\.3 s$/,
    "video",
  );
});

test("a body that trickles is cut off at the total deadline (headers and body under one deadline)", async () => {
  const t0 = performance.now();
  await refused(
    loadMediaBytes(`${base}/trickle`, { ...open, timeoutMs: 700 }),
    /^image URL \S+ did not send the whole image within 0\.7 s$/,
  );
  assert.ok(performance.now() - t0 < 5000);
});

test("redirects: followed up to the cap, refused past it", async () => {
  assert.deepEqual(await loadMediaBytes(`${base}/hop/4`, open), IMAGE, "5 redirects are followed");
  await refused(loadMediaBytes(`${base}/hop/9`, open), /redirects more than 5 times$/);
  await refused(loadMediaBytes(`${base}/hop/2`, { ...open, maxRedirects: 2 }), /redirects more than 2 times$/);
});

test("every redirect hop is judged again: private targets and other schemes are refused", async () => {
  // the first hop is private too (a local server), so it is allowed; the scheme check applies to every hop
  await refused(loadMediaBytes(`${base}/to?u=file:///etc/passwd`, open), /redirects to a URL that is not http\(s\)$/);
  await refused(loadMediaBytes(`${base}/to?u=data:,x`, open), /redirects to a URL that is not http\(s\)$/);
  // followed when private addresses are allowed, in any spelling of the address
  const port = new URL(base).port;
  assert.deepEqual(await loadMediaBytes(`${base}/to?u=http://0x7f.1:${port}/ok.bin`, open), IMAGE);
});

test("private hosts are refused before connecting unless allowPrivate; the library allows them by default", async () => {
  seen.length = 0;
  const message =
    /^image URL \S+ resolves to a private address; the server refuses such URLs unless started with --allow-private-urls$/;
  await refused(loadMediaBytes(`${base}/ok.bin`, { allowPrivate: false }), message);
  await refused(loadMediaBytes(`${base}/hop/3`, { allowPrivate: false }), message);
  const port = new URL(base).port;
  await refused(loadMediaBytes(`http://localhost:${port}/ok.bin`, { allowPrivate: false }), message);
  await refused(loadMediaBytes(`http://[::ffff:127.0.0.1]:${port}/ok.bin`, { allowPrivate: false }), message);
  assert.deepEqual(seen, [], "nothing reached the server");
  assert.deepEqual(await loadMediaBytes(`${base}/ok.bin`), IMAGE, "library default: allowed");
});

test("a host name is judged by what it resolves to", async (t) => {
  // this machine's own name resolves to one of its own addresses (loopback or an interface's)
  const name = hostname();
  const resolved = await lookup(name, { all: true }).catch(() => []);
  if (!resolved.length) return t.skip(`${name} does not resolve here`);
  seen.length = 0;
  const port = new URL(base).port;
  await refused(
    loadMediaBytes(`http://${name}:${port}/ok.bin`, { allowPrivate: false }),
    /resolves to a private address/,
  );
  assert.deepEqual(seen, []);
});

test("bodies over the size cap are refused, declared or while streaming", async () => {
  await refused(loadMediaBytes(`${base}/declared-big`, open), /is 5000 bytes; the limit is 4000$/);
  await refused(loadMediaBytes(`${base}/chunked-big`, open), /exceeds 4000 bytes$/);
});

test("a closed port, a reset connection and an unresolvable name read the same; HTTP errors say the status", async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
  const closedPort = (closed.address() as { port: number }).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const same = /^image URL \S+ cannot be fetched: no connection to its host$/;
  const messages = [
    await refused(loadMediaBytes(`http://127.0.0.1:${closedPort}/a.png`, open), same),
    await refused(loadMediaBytes(`${base}/drop`, open), same),
    await refused(loadMediaBytes("http://does-not-exist.invalid/a.png", open), same),
  ];
  const causes = messages.map((m) => m.replace(/^image URL \S+ /, ""));
  assert.deepEqual(new Set(causes).size, 1, causes.join("\n"));
  assert.doesNotMatch(causes[0], /ECONN|refused|reset|ENOTFOUND|dns|tcp|error sending/i);
  await refused(loadMediaBytes(`${base}/missing.png`, open), /cannot be fetched: HTTP 404$/);
});

test("a cancelled request stops its fetch at once (AbortError)", async () => {
  const ctrl = new AbortController();
  const t0 = performance.now();
  setTimeout(() => ctrl.abort(), 100);
  await assert.rejects(loadMediaBytes(`${base}/hang`, { ...open, signal: ctrl.signal }), AbortError);
  assert.ok(performance.now() - t0 < 3000);
});

test("the server refuses a private image URL without --allow-private-urls and keeps serving", async () => {
  let server: TestServer | undefined;
  try {
    server = await startServer("node", [
      "--model",
      models().llm,
      "--mmproj",
      models().mmproj16x,
      "--model-name",
      "tiny",
      "--ctx-size",
      "2048",
      "--threads",
      "2",
    ]);
    const chat = async (content: unknown) => {
      const res = await fetch(`${server!.url}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "tiny", max_tokens: 2, messages: [{ role: "user", content }] }),
      });
      return { status: res.status, body: await res.json() };
    };
    seen.length = 0;
    const bad = await chat([
      { type: "image_url", image_url: { url: `${base}/ok.bin` } },
      { type: "text", text: "What is this?" },
    ]);
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.equal(bad.body.error.type, "invalid_request_error");
    assert.match(
      bad.body.error.message,
      /resolves to a private address; the server refuses such URLs unless started with --allow-private-urls/,
    );
    assert.deepEqual(seen, [], "the server did not fetch it");
    const good = await chat("Say hello.");
    assert.equal(good.status, 200, JSON.stringify(good.body));
  } finally {
    await server?.stop();
  }
});
