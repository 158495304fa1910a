// Drives headless Chromium (Debian's /usr/bin/chromium) through playwright-core: serves the
// repository with COOP/COEP headers (needed for SharedArrayBuffer, hence wasm threads), opens
// page.html and prints the page's result as JSON.
// Usage: node tests/browser/run.mjs MODEL_FILE PROMPT N [MMPROJ_FILE IMAGE_FILE]
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, resolve } from "node:path";
import { chromium } from "playwright-core";

const [modelFile, prompt, n, mmprojFile, imageFile] = process.argv.slice(2);
const served = { "/model.gguf": modelFile, "/mmproj.gguf": mmprojFile, "/image": imageFile };
const root = resolve(new URL("../..", import.meta.url).pathname);
const types = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm" };

const server = createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
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
  });
  createReadStream(path).pipe(res);
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const port = server.address().port;

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const page = await browser.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(m.text()));
  page.on("pageerror", (e) => logs.push(String(e)));
  const q = new URLSearchParams({ model: "/model.gguf", prompt, n, ...(mmprojFile ? { mmproj: "/mmproj.gguf", image: "/image" } : {}) });
  await page.goto(`http://127.0.0.1:${port}/tests/browser/page.html?${q}`);
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 120_000 });
  const result = await page.evaluate(() => window.__result);
  console.log(JSON.stringify({ ...result, logs }));
} finally {
  await browser.close();
  server.close();
}
