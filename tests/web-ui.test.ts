/**
 * The web chat page (web/, docs/web.md) end to end: `serve` on the tiny pair with an API key,
 * the page driven in headless Chromium by accessible names (tests/browser/web-ui-run.mjs):
 * the server's 401 shown in the page, streamed answers with their stats line, an attached image
 * with image tokens, a broken image's error shown (and the next message working), Escape stops, hostile Markdown rendered inert, no serious axe violations in
 * either theme, the conversation kept across a reload and cleared by New chat, and "Run in this
 * browser" downloading the pair from /files/ with a progress bar and answering in a worker, then
 * again after a reload from the browser's cache. Plus the routes themselves: the page is open
 * and cross-origin isolated, the model files are behind the key and answer ranges, --no-ui: 404;
 * and the static build (browser only) on a host without COOP/COEP, isolated by its service worker.
 */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { models, run, startServer, type TestServer } from "./helpers.ts";

const KEY = "web-ui-test-key";
let server: TestServer;

before(async () => {
  const m = models();
  server = await startServer("node", ["--model", m.llm, "--mmproj", m.mmproj16x, "--api-key", KEY]);
});
after(async () => await server?.stop());

const auth = { authorization: `Bearer ${KEY}` };

test("the page, its engine files and the model files: open page, isolation headers, ranges behind the key", async () => {
  const m = models();
  for (const path of ["/", "/ui"]) {
    const res = await fetch(`${server.url}${path}`);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get("content-type") ?? "", /text\/html/);
    assert.equal(res.headers.get("cross-origin-opener-policy"), "same-origin");
    assert.equal(res.headers.get("cross-origin-embedder-policy"), "require-corp");
    assert.match(await res.text(), /aria-label="Message"/);
  }
  const wasm = await fetch(`${server.url}/engine/wasm/minicpmv-edge.wasm`, { method: "HEAD" });
  assert.equal(wasm.status, 200);
  assert.equal(wasm.headers.get("content-type"), "application/wasm");
  assert.equal((await fetch(`${server.url}/engine/wasm/..%2fnode%2fcli.js`)).status, 404);
  assert.equal((await fetch(`${server.url}/assets/absent.js`)).status, 404);

  assert.equal((await fetch(`${server.url}/files/`)).status, 401, "model files need the key");
  const listing = await (await fetch(`${server.url}/files/`, { headers: auth })).json();
  assert.deepEqual(listing, {
    model: "tiny-llm.gguf",
    mmproj: "tiny-mmproj-16x.gguf",
    files: [
      { name: "tiny-llm.gguf", size: statSync(m.llm).size, url: "/files/tiny-llm.gguf" },
      { name: "tiny-mmproj-16x.gguf", size: statSync(m.mmproj16x).size, url: "/files/tiny-mmproj-16x.gguf" },
    ],
  });
  const size = statSync(m.llm).size;
  const part = await fetch(`${server.url}/files/tiny-llm.gguf`, { headers: { ...auth, range: "bytes=4-11" } });
  assert.equal(part.status, 206);
  assert.equal(part.headers.get("content-range"), `bytes 4-11/${size}`);
  assert.deepEqual(new Uint8Array(await part.arrayBuffer()), new Uint8Array(readFileSync(m.llm).subarray(4, 12)));
  const whole = await fetch(`${server.url}/files/tiny-mmproj-16x.gguf`, { headers: auth });
  assert.equal(whole.status, 200);
  assert.deepEqual(new Uint8Array(await whole.arrayBuffer()), new Uint8Array(readFileSync(m.mmproj16x)));
  const past = await fetch(`${server.url}/files/tiny-llm.gguf`, { headers: { ...auth, range: `bytes=${size}-` } });
  assert.equal(past.status, 416);
  await past.body?.cancel();
  assert.equal((await fetch(`${server.url}/files/other.gguf`, { headers: auth })).status, 404);
});

interface Answer {
  text: string;
  stats: string | null;
  error: string | null;
}

function statsOf(a: Answer) {
  const m =
    /^(\d+) prompt tokens(?: \((\d+) image\))? · (\d+) generated · first token [\d.]+ s · ([\d.]+) tokens\/s · (.+)$/
      .exec(a.stats ?? "");
  assert.ok(m, `no stats line: ${JSON.stringify(a)}`);
  return { prompt: Number(m[1]), image: Number(m[2] ?? 0), generated: Number(m[3]), rate: Number(m[4]), engine: m[5] };
}

test("the chat page in Chromium: server answers, image, stop, sanitised Markdown, axe, storage, browser mode", async () => {
  const r = await run("node", [
    "tests/browser/web-ui-run.mjs",
    `${server.url}/`,
    KEY,
    models().testJpeg,
    "--browser-mode",
  ], {
    timeoutMs: 900_000,
  });
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.equal(o.error, undefined, `${o.error}\n${o.logs.join("\n")}`);
  assert.equal(o.isolated, true, "the page is not cross-origin isolated");

  assert.match(o.noKey.error, /Missing API key/);
  assert.deepEqual(o.afterShiftEnter, { value: "Describe\na cat", answers: 1 });
  const text = statsOf(o.text);
  assert.ok(o.text.text.length > 0 && text.generated > 0 && text.rate > 0, JSON.stringify(o.text));
  assert.equal(text.image, 0);
  assert.equal(text.engine, "server");

  assert.equal(o.pendingAttachments, 1);
  const image = statsOf(o.image);
  assert.ok(image.image > 0, `no image tokens: ${o.image.stats}`);
  assert.ok(image.prompt > image.image);
  assert.equal(o.thumbnails, 1);

  assert.equal(o.badImage.stats, null);
  assert.match(o.badImage.error ?? "", /image/i, "the server's error for a broken image is not shown");
  assert.equal(o.stopped.stats, 0, "the stopped answer finished anyway");
  assert.ok(statsOf(o.afterStop).generated > 0);

  assert.deepEqual(o.markdown, {
    executed: [],
    scripts: 0,
    images: 0,
    handlers: [],
    javascriptLinks: 0,
    copyButtons: 1,
    code: "const x = 1;\n",
  });
  assert.deepEqual(o.axe, { light: [], dark: [] });

  assert.ok(o.reload.before >= 12);
  assert.equal(o.reload.after, o.reload.before, "the conversation did not survive a reload");
  assert.equal(o.reload.stats, 3);
  assert.equal(o.reload.thumbnails, 2, "the two attached pictures (one broken)");
  assert.deepEqual(o.newChat, { after: 0, afterReload: 0 });

  const b = o.browserMode;
  assert.ok(b.apiKeyKept);
  assert.match(b.engine, /^Engine: browser · \d+ threads? · (relaxed SIMD|SIMD128), loaded in/);
  assert.ok(b.progress.some((p: string) => / of 28 MB · /.test(p)), b.progress.join("\n"));
  assert.ok(b.firstLoadModelRequests >= 2, "the first load did not download the pair");
  assert.match(statsOf(b.answer).engine, /^browser · /);
  assert.ok(statsOf(b.answer).generated > 0);
  assert.ok(statsOf(b.image).image > 0, `no image tokens in the browser: ${b.image.stats}`);
  assert.deepEqual(b.afterReload.modelRequests, [], "the reload downloaded the model again");
  assert.match(statsOf(b.afterReload.answer).engine, /^browser · /);
});

test("--no-ui: no page at / or /ui", async () => {
  const m = models();
  const bare = await startServer("deno", ["--model", m.llm, "--no-ui"]);
  try {
    for (const path of ["/", "/ui", "/assets/app.js"]) {
      const res = await fetch(`${bare.url}${path}`);
      assert.equal(res.status, 404, path);
      assert.equal((await res.json()).error.code, "not_found");
    }
    assert.equal((await fetch(`${bare.url}/health`)).status, 200);
  } finally {
    await bare.stop();
  }
});

test("the static build answers in the browser on a host without COOP/COEP (its service worker adds them)", async () => {
  const m = models();
  const site = mkdtempSync(join(tmpdir(), "mce-web-static-"));
  try {
    const build = await run("node", ["scripts/build-web.mjs", "--static", "--out", site]);
    assert.equal(build.code, 0, build.stderr);
    assert.match(build.stdout, /web page: \d+ scripts, [\d.]+ KB gzip/);
    const r = await run("node", ["tests/browser/web-static-run.mjs", site, m.llm, m.mmproj16x], { timeoutMs: 400_000 });
    assert.equal(r.code, 0, r.stderr);
    const o = JSON.parse(r.stdout);
    assert.equal(o.error, undefined, `${o.error}\n${o.engineInfo}\n${o.logs.join("\n")}`);
    assert.deepEqual(
      { ...o.page, engine: undefined },
      { isolated: true, controlled: true, switchOn: true, switchDisabled: true, engine: undefined },
    );
    assert.match(o.page.engine, /^Engine: browser · \d+ threads? · /);
    assert.equal(o.answer.error, null);
    assert.match(statsOf(o.answer).engine, /^browser · /);
    assert.ok(o.requests.includes("/sw.js"));
    // without isolation (no service worker): no SharedArrayBuffer, and the page says so
    assert.equal(o.unisolated.isolated, false);
    assert.match(o.unisolated.engine, /^Browser engine: this page is not cross-origin isolated/);
  } finally {
    rmSync(site, { recursive: true, force: true });
  }
});
