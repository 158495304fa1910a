// Drives the web chat page (web/, served by `serve` at /) in headless Chromium through
// playwright-core, the way a person would: controls found by their accessible names, keyboard
// only where the page promises it. Prints one JSON object of observations for tests/web-ui.test.ts.
// Usage: node tests/browser/web-ui-run.mjs SERVER_URL API_KEY IMAGE_FILE [--browser-mode] [--screenshots DIR]
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const [url, apiKey, imageFile, ...flags] = process.argv.slice(2);
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
const out = { logs: [] };

const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"],
});
const context = await browser.newContext();
const page = await context.newPage();
page.on("console", (m) => out.logs.push(m.text()));
page.on("pageerror", (e) => out.logs.push(`pageerror: ${e}`));
const answers = page.locator("article.assistant");
const message = page.getByRole("textbox", { name: "Message" });
const send = page.getByRole("button", { name: "Send" });

/** waits for answer number n (1-based) to finish: a stats line or an error */
async function finished(n, timeout = 120_000) {
  const a = answers.nth(n - 1);
  await a.locator(".stats, .error").first().waitFor({ timeout });
  await send.and(page.locator(":enabled")).waitFor({ timeout });
  return {
    text: await a.locator(".answer").innerText(),
    stats: await a.locator(".stats").innerText().catch(() => null),
    error: await a.locator(".error").innerText().catch(() => null),
  };
}

async function axe(scheme) {
  await page.emulateMedia({ colorScheme: scheme });
  if (!(await page.evaluate(() => "axe" in globalThis))) await page.addScriptTag({ content: axeSource });
  const r = await page.evaluate(() => globalThis.axe.run(document));
  return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

try {
  await page.goto(url);
  await page.getByText("Engine: server").waitFor();
  out.isolated = await page.evaluate(() => crossOriginIsolated);

  // 1. no key yet: the server's 401 message appears in the page
  await message.fill("Hello");
  await message.press("Enter");
  out.noKey = await finished(1);

  // 2. with the key (Settings), Enter sends; Shift+Enter is a line break, not a send
  await page.getByText("Settings").click();
  await page.getByLabel("API key").fill(apiKey);
  await message.fill("Describe");
  await message.press("Shift+Enter");
  await message.pressSequentially("a cat");
  out.afterShiftEnter = { value: await message.inputValue(), answers: await answers.count() };
  await message.press("Enter");
  out.text = await finished(2);

  // 3. an image attached through the control's accessible name, 4x, sent with the button
  await page.getByLabel("Attach image or video").setInputFiles(imageFile);
  out.pendingAttachments = await page.locator("#attachments li").count();
  await page.getByLabel("Downsample").selectOption("4x");
  await message.fill("What is in the image?");
  await send.click();
  out.image = await finished(3);
  out.thumbnails = await page.locator("article.user .media img").count();
  const shots = flags.indexOf("--screenshots");
  if (shots >= 0) {
    // the README's pictures: the image answer, light and dark
    await page.getByText("Settings").click(); // fold the settings away
    await page.setViewportSize({ width: 1100, height: 860 });
    await page.locator("article.user").last().evaluate((e) => e.scrollIntoView({ block: "start" }));
    for (const scheme of ["light", "dark"]) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.screenshot({ path: `${flags[shots + 1]}/web-${scheme}.png` });
    }
    await page.getByText("Settings").click();
    await page.emulateMedia({ colorScheme: "light" });
    await page.setViewportSize({ width: 1280, height: 720 });
  }

  // 3b. a ".jpg" that is text: the server's error in the page (the next steps show later messages work)
  await page.getByLabel("Attach image or video").setInputFiles({
    name: "bad.jpg",
    mimeType: "image/jpeg",
    buffer: Buffer.from("this is not a picture"),
  });
  await message.fill("And this one?");
  await message.press("Enter");
  out.badImage = await finished(4);

  // 4. Escape stops a running answer; the next message works
  await message.fill("Tell me a long story");
  await message.press("Enter");
  await answers.nth(4).locator(".answer").filter({ hasText: /\S/ }).waitFor();
  await page.keyboard.press("Escape");
  await send.and(page.locator(":enabled")).waitFor({ timeout: 10_000 });
  out.stopped = { stats: await answers.nth(4).locator(".stats").count() };
  await message.fill("Again");
  await message.press("Enter");
  out.afterStop = await finished(6);

  // 5. the renderer the page uses, fed hostile Markdown
  out.markdown = await page.evaluate(async () => {
    const { renderMarkdown } = await import(new URL("assets/markdown.js", location.href).href);
    globalThis.__xss = [];
    const md = [
      "<img src=x onerror=\"window.__xss.push('img')\">",
      "<script>window.__xss.push('script')</script>",
      "<svg><g onload=\"window.__xss.push('svg')\"></g></svg>",
      "[click](javascript:window.__xss.push('link'))",
      '<a href="#" onclick="window.__xss.push(\'a\')" id="evil">x</a>',
      "",
      "```js",
      "const x = 1;",
      "```",
    ].join("\n");
    const host = document.createElement("div");
    host.append(renderMarkdown(md));
    document.body.append(host);
    for (const a of host.querySelectorAll("a")) a.click();
    await new Promise((r) => setTimeout(r, 500));
    const handlers = [...host.querySelectorAll("*")].flatMap((e) =>
      [...e.attributes].filter((a) => a.name.startsWith("on")).map((a) => `${e.tagName}.${a.name}`)
    );
    const result = {
      executed: globalThis.__xss,
      scripts: host.querySelectorAll("script").length,
      images: host.querySelectorAll("img").length,
      handlers,
      javascriptLinks: [...host.querySelectorAll("a")].filter((a) => /^javascript:/i.test(a.getAttribute("href") ?? ""))
        .length,
      copyButtons: host.querySelectorAll("pre button.copy").length,
      code: host.querySelector("pre code")?.textContent,
    };
    host.remove();
    return result;
  });

  // 6. accessibility, light and dark
  out.axe = { light: await axe("light"), dark: await axe("dark") };
  await page.emulateMedia({ colorScheme: "light" });

  // 7. the conversation survives a reload (IndexedDB), New chat clears it
  const before = await page.locator("article").count();
  await page.reload();
  await page.getByText("Engine: server").waitFor();
  out.reload = {
    before,
    after: await page.locator("article").count(),
    stats: await page.locator("article.assistant .stats").count(),
    thumbnails: await page.locator("article.user .media img").count(),
  };
  await page.getByRole("button", { name: "New chat" }).click();
  await page.locator("article").first().waitFor({ state: "detached" });
  out.newChat = { after: await page.locator("article").count() };
  await page.reload();
  await page.getByText("Engine: server").waitFor();
  out.newChat.afterReload = await page.locator("article").count();

  // 8. Run in this browser: the engine in a worker, the model from the server's /files/
  if (flags.includes("--browser-mode")) {
    out.browserMode = { apiKeyKept: await page.getByLabel("API key").inputValue() === apiKey };
    const progress = [];
    const watch = setInterval(async () => {
      const t = await page.locator("#download-text").innerText().catch(() => "");
      if (t && progress.at(-1) !== t) progress.push(t);
    }, 100);
    const modelRequests = []; // the page's and its workers' requests for model files
    context.on(
      "request",
      (r) => /\/files\/[^/]+\.gguf$/.test(new URL(r.url()).pathname) && modelRequests.push(r.url()),
    );
    const t0 = Date.now();
    await page.getByRole("switch", { name: "Run in this browser" }).check();
    await page.getByText(/Engine: browser/).waitFor({ timeout: 180_000 });
    clearInterval(watch);
    Object.assign(out.browserMode, {
      engine: await page.locator("#engine-info").innerText(),
      loadMs: Date.now() - t0,
      progress,
    });
    await message.fill("Hello from the browser");
    await message.press("Enter");
    out.browserMode.answer = await finished(1, 180_000);
    await page.getByLabel("Attach image or video").setInputFiles(imageFile);
    await message.fill("And this image?");
    await message.press("Enter");
    out.browserMode.image = await finished(2, 180_000);

    // a reload loads the pair from the browser's model cache (OPFS): no model file is requested
    out.browserMode.firstLoadModelRequests = modelRequests.splice(0).length;
    await page.reload();
    await page.getByRole("switch", { name: "Run in this browser" }).check();
    await page.getByText(/Engine: browser/).waitFor({ timeout: 180_000 });
    await message.fill("Once more");
    await message.press("Enter");
    out.browserMode.afterReload = { answer: await finished(3, 180_000), modelRequests };
  }
} catch (e) {
  out.error = String(e?.stack ?? e);
  await page.screenshot({ path: "/tmp/web-ui-error.png" }).catch(() => {});
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
