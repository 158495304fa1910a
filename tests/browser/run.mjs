// Drives headless Chromium (Debian's /usr/bin/chromium) through playwright-core: serves the
// repository with COOP/COEP headers (needed for SharedArrayBuffer, hence wasm threads), opens
// page.html and prints the page's result as JSON.
// Usage: node tests/browser/run.mjs MODEL_FILE PROMPT N [MMPROJ_FILE [IMAGE_FILE|-] [VIDEO_FILE [STACK_FRAMES]]]
//        node tests/browser/run.mjs --cache MODEL_FILE PROMPT N MMPROJ_FILE
// --cache: the page loads the pair by http URL into the browser's model cache, then a second
// page of the same profile loads it again and offline; model requests are counted here and
// readable from the page (window.modelRequests()).
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, resolve } from "node:path";
import { chromium } from "playwright-core";

const cacheMode = process.argv[2] === "--cache";
const [modelFile, prompt, n, mmprojFile, imageArg, videoFile, stackFrames] = process.argv.slice(cacheMode ? 3 : 2);
const imageFile = imageArg === "-" ? undefined : imageArg;
const served = cacheMode
  ? { "/models/tiny-llm.gguf": modelFile, "/models/tiny-mmproj-16x.gguf": mmprojFile }
  : { "/model.gguf": modelFile, "/mmproj.gguf": mmprojFile, "/image": imageFile, "/video": videoFile };
const root = resolve(new URL("../..", import.meta.url).pathname);
const types = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
};
let modelRequests = 0; // every request under /models/, served or not

const server = createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  if (url.pathname.startsWith("/models/")) modelRequests++;
  const path = served[url.pathname] ?? join(root, decodeURIComponent(url.pathname));
  if (!path.startsWith(root) && !Object.values(served).includes(path)) return res.writeHead(403).end();
  let size;
  try {
    size = statSync(path).size;
  } catch {
    return res.writeHead(404).end();
  }
  res.writeHead(200, {
    "content-type": types[extname(path)] ?? "application/octet-stream",
    "content-length": size,
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-embedder-policy": "require-corp",
    "cache-control": "no-store", // a repeated fetch must reach this server (and be counted)
  });
  createReadStream(path).pipe(res);
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const port = server.address().port;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});
try {
  const context = await browser.newContext(); // one profile: its OPFS persists across its pages
  await context.exposeFunction("modelRequests", () => modelRequests);
  const logs = [];
  const open = async (params) => {
    const page = await context.newPage();
    page.on("console", (m) => logs.push(m.text()));
    page.on("pageerror", (e) => logs.push(String(e)));
    await page.goto(
      `http://127.0.0.1:${port}/tests/browser/page.html?${new URLSearchParams({ prompt, n, ...params })}`,
    );
    await page.waitForFunction(() => globalThis.__result !== undefined, null, { timeout: 120_000 });
    const result = await page.evaluate(() => globalThis.__result);
    await page.close();
    return result;
  };
  if (cacheMode) {
    const download = await open({ mode: "cache", step: "download" });
    const offline = download.error ? undefined : await open({ mode: "cache", step: "offline" });
    console.log(JSON.stringify({ download, offline, error: download.error ?? offline.error, logs }));
  } else {
    const result = await open({
      model: "/model.gguf",
      ...(mmprojFile ? { mmproj: "/mmproj.gguf" } : {}),
      ...(imageFile ? { image: "/image" } : {}),
      ...(videoFile ? { video: "/video", ...(stackFrames ? { stack: stackFrames } : {}) } : {}),
    });
    console.log(JSON.stringify({ ...result, logs }));
  }
} finally {
  await browser.close();
  server.close();
}
