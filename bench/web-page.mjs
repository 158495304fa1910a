// The web page's two engines on one machine: `serve` (Node, the dist/node bundle) answering the
// page, against "Run in this browser" (the same wasm in headless Chromium): browser load time
// (download into OPFS + load, then again from OPFS after a reload) and tokens/s of one text answer
// (256 tokens, the stats line under the answer). Prints a table.
// Usage: node bench/web-page.mjs MODEL MMPROJ [--threads N]
// Run it alone: flock -x /tmp/mce-cpu.lock node bench/web-page.mjs ...
import { spawn } from "node:child_process";
import { chromium } from "playwright-core";

const [model, mmproj, ...rest] = process.argv.slice(2);
const threads = rest[rest.indexOf("--threads") + 1] && rest.includes("--threads")
  ? rest[rest.indexOf("--threads") + 1]
  : "2";
const serve = spawn(
  "node",
  [
    "dist/node/cli.js",
    "serve",
    "--model",
    model,
    "--mmproj",
    mmproj,
    "--port",
    "0",
    "--threads",
    threads,
    "--parallel",
    "1",
  ],
  { stdio: ["ignore", "pipe", "pipe"] },
);
const url = await new Promise((resolve, reject) => {
  let log = "";
  const onData = (d) => {
    log += d;
    const m = /listening on (http:\/\/\S+)/.exec(log);
    if (m && /ready/.test(log)) resolve(m[1]);
  };
  serve.stdout.on("data", onData);
  serve.stderr.on("data", onData);
  serve.on("close", () => reject(new Error(log)));
});

const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
const rows = [];
try {
  const page = await browser.newPage();
  const message = page.getByRole("textbox", { name: "Message" });
  const ask = async () => {
    await page.getByRole("button", { name: "New chat" }).click(); // the same one-turn prompt each time
    await page.locator("article").first().waitFor({ state: "detached" });
    await message.fill("Write a long story about a lighthouse keeper.");
    await message.press("Enter");
    return await page.locator("article.assistant").first().locator(".stats").innerText({ timeout: 900_000 });
  };
  await page.goto(`${url}/`);
  await page.getByText("Engine: server").waitFor();
  rows.push(["server (Node)", "-", await ask()]);
  const browserLoad = async () => {
    const t0 = Date.now();
    await page.getByRole("switch", { name: "Run in this browser" }).check();
    await page.getByText(/Engine: browser/).waitFor({ timeout: 1_800_000 });
    return `${((Date.now() - t0) / 1000).toFixed(1)} s`;
  };
  const first = await browserLoad();
  rows.push(["browser, first load (download)", first, await ask()]);
  await page.reload();
  const cached = await browserLoad();
  rows.push(["browser, after reload (OPFS)", cached, await ask()]);
} finally {
  await browser.close();
  serve.kill("SIGTERM");
}
console.log(`threads ${threads}; model ${model}`);
console.log("| engine | load | answer stats |\n| --- | --- | --- |");
for (const r of rows) console.log(`| ${r.join(" | ")} |`);
