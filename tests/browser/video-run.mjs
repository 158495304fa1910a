// Drives headless Chromium (Debian's /usr/bin/chromium) through playwright-core: serves the
// repository and one video as /video, opens video.html (which decodes frames in the browser's video
// decode worker) and prints the page's result as JSON.
// Usage: node tests/browser/video-run.mjs VIDEO_FILE INDEX,INDEX,...
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, resolve } from "node:path";
import { chromium } from "playwright-core";

const [videoFile, indices] = process.argv.slice(2);
const root = resolve(new URL("../..", import.meta.url).pathname);
const types = {
  ".html": "text/html",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".wasm": "application/wasm",
};

const server = createServer((req, res) => {
  const url = new URL(req.url, "http://localhost");
  const path = url.pathname === "/video" ? videoFile : join(root, decodeURIComponent(url.pathname));
  if (path !== videoFile && !path.startsWith(root)) return res.writeHead(403).end();
  let size;
  try {
    size = statSync(path).size;
  } catch {
    return res.writeHead(404).end();
  }
  res.writeHead(200, { "content-type": types[extname(path)] ?? "application/octet-stream", "content-length": size });
  createReadStream(path).pipe(res);
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
  ],
});
try {
  const page = await browser.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(m.text()));
  page.on("pageerror", (e) => logs.push(String(e)));
  await page.goto(`http://127.0.0.1:${server.address().port}/tests/browser/video.html?indices=${indices}`);
  await page.waitForFunction(() => globalThis.__result !== undefined, null, { timeout: 120_000 });
  console.log(JSON.stringify({ ...(await page.evaluate(() => globalThis.__result)), logs }));
} finally {
  await browser.close();
  server.close();
}
