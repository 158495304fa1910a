// The static build of the chat page (scripts/build-web.mjs --static) on a host that sends no
// COOP/COEP headers: a plain file server for the site directory plus the model pair under
// /models/. The page must register its service worker, reload once into cross-origin isolation
// and answer in the browser. Prints one JSON object for tests/web-ui.test.ts.
// Usage: node tests/browser/web-static-run.mjs SITE_DIR MODEL_FILE MMPROJ_FILE
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, resolve } from "node:path";
import { chromium } from "playwright-core";

const [siteDir, modelFile, mmprojFile] = process.argv.slice(2);
const root = resolve(siteDir);
const models = { "/models/model.gguf": modelFile, "/models/mmproj.gguf": mmprojFile };
const types = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".css": "text/css",
  ".wasm": "application/wasm",
};
const out = { logs: [], requests: [] };
const server = createServer((req, res) => {
  out.requests.push(req.url);
  const path = new URL(req.url, "http://localhost").pathname;
  const file = models[path] ?? join(root, path.endsWith("/") ? `${path}index.html` : decodeURIComponent(path));
  if (!models[path] && !file.startsWith(root)) return res.writeHead(403).end();
  let size;
  try {
    size = statSync(file).size;
  } catch {
    return res.writeHead(404).end();
  }
  res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream", "content-length": size });
  createReadStream(file).pipe(res);
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
try {
  const page = await browser.newPage();
  page.on("console", (m) => out.logs.push(m.text()));
  page.on("pageerror", (e) => out.logs.push(`pageerror: ${e}`));
  const refs = new URLSearchParams({
    modelRef: `${origin}/models/model.gguf`,
    mmprojRef: `${origin}/models/mmproj.gguf`,
  });
  await page.goto(`${origin}/?${refs}`);
  await page.getByText(/Engine: browser/).waitFor({ timeout: 180_000 });
  const mode = page.getByRole("switch", { name: "Run in this browser" });
  out.page = {
    isolated: await page.evaluate(() => crossOriginIsolated),
    controlled: await page.evaluate(() => !!navigator.serviceWorker.controller),
    engine: await page.locator("#engine-info").innerText(),
    switchOn: await mode.isChecked(),
    switchDisabled: await mode.isDisabled(),
  };
  const message = page.getByRole("textbox", { name: "Message" });
  await message.fill("Hello");
  await message.press("Enter");
  const answer = page.locator("article.assistant").first();
  await answer.locator(".stats, .error").first().waitFor({ timeout: 180_000 });
  out.answer = {
    stats: await answer.locator(".stats").innerText().catch(() => null),
    error: await answer.locator(".error").innerText().catch(() => null),
  };

  // no service worker (sw.js missing on this host): not isolated, no SharedArrayBuffer: the page says why
  // the engine cannot start (the wasm builds are threaded; a single-thread build is future work)
  const plain = await browser.newContext();
  await plain.route("**/sw.js", (r) => r.fulfill({ status: 404, body: "" }));
  const page2 = await plain.newPage();
  page2.on("pageerror", (e) => out.logs.push(`pageerror: ${e}`));
  page2.on("console", (m) => out.logs.push(`page2: ${m.text()}`));
  await page2.goto(`${origin}/?${refs}`);
  await page2.getByText(/Browser engine: |Engine: browser/).waitFor({ timeout: 180_000 });
  out.unisolated = {
    isolated: await page2.evaluate(() => crossOriginIsolated),
    engine: await page2.locator("#engine-info").innerText(),
  };
} catch (e) {
  out.error = String(e?.stack ?? e);
  out.engineInfo = await Promise.all(
    browser.contexts().map((c) => c.pages()[0]?.locator("#engine-info").innerText().catch(() => null)),
  );
} finally {
  await browser.close();
  server.close();
}
console.log(JSON.stringify(out));
