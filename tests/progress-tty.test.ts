/**
 * The CLI's download progress bar on a real terminal: `pull` runs under a pseudo-terminal
 * (util-linux `script`) against a local server that sends the tiny model in slices, so the bar
 * is drawn while bytes arrive; without a terminal the same command prints no bar.
 */

import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { after, before, test } from "node:test";
import { formatBytes } from "../cli/progress.ts";
import { cliCommand, models, run, type RuntimeName } from "./helpers.ts";

const body = readFileSync(models().llm);
const SLICES = 12;
const server = createServer((_req, res) => {
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(body.length) });
  // a slice every 150 ms: the bar (5 frames/s) draws several frames mid-download
  let i = 0;
  const step = Math.ceil(body.length / SLICES);
  const next = () => {
    if (i * step >= body.length) return void res.end();
    res.write(body.subarray(i * step, ++i * step), () => setTimeout(next, 150));
  };
  next();
});
let url = "";
before(async () => {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}/files/tiny-llm.gguf`;
});
after(() => new Promise<void>((r) => server.close(() => r())));

const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/** `cli pull URL` with a fresh cache, under a pseudo-terminal or with plain pipes */
async function pull(runtime: RuntimeName, tty: boolean) {
  const cache = mkdtempSync(`${tmpdir()}/mce-tty-`);
  const [cmd, pre] = cliCommand(runtime);
  const args = [...pre, "pull", url, "--no-mmproj"];
  try {
    const env = { MINICPMV_EDGE_CACHE: cache, NO_COLOR: "1" };
    // script -e: the command's exit code; -f: flush as it comes; the log file is not needed
    const r = tty
      ? await run("script", ["-qefc", [cmd, ...args].map(quote).join(" "), "/dev/null"], { env })
      : await run(cmd, args, { env });
    assert.equal(r.code, 0, `${runtime} (tty ${tty}): ${r.stdout}\n${r.stderr}`);
    return r;
  } finally {
    rmSync(cache, { recursive: true, force: true });
  }
}

const size = formatBytes(body.length); // "27.3 MB"

for (const runtime of ["deno", "bun", "node"] as const) {
  test(`${runtime}: \`pull\` draws a progress bar on a terminal (bytes, rate, ETA, 100%) and none without one`, async () => {
    const term = await pull(runtime, true);
    // the terminal shows stdout and stderr together; each frame is redrawn after cursor controls
    // deno-lint-ignore no-control-regex
    const frames = term.stdout.split(/\x1b(?:\[[0-9;?]*[A-Za-z]|[78])|[\r\n]+/).filter((f) => f.includes("%"));
    const parsed = frames.map((f) =>
      /(\d+)% \| ([\d.]+ [kMG]?B) \/ ([\d.]+ [kMG]?B|\?) \| ([\d.]+ [kMG]?B)\/s \| ETA (\S+)/.exec(f)
    );
    assert.ok(parsed.length >= 2 && parsed.every(Boolean), `unexpected frames:\n${frames.join("\n")}`);
    const mid = parsed.filter((p) => Number(p![1]) > 0 && Number(p![1]) < 100);
    assert.ok(mid.length > 0, `no frame while downloading:\n${frames.join("\n")}`);
    assert.ok(
      mid.some((p) => parseFloat(p![4]) > 0 && /^(\d+[hms])+$/.test(p![5])),
      `no rate or ETA while downloading:\n${frames.join("\n")}`,
    );
    // the size is unknown ("?") only until the response headers arrive
    assert.ok(
      parsed.every((p) => p![3] === size || (p![3] === "?" && p![2] === "0 B")),
      `the total is ${size}:\n${frames.join("\n")}`,
    );
    const last = parsed.at(-1)!;
    assert.deepEqual([last[1], last[2]], ["100", size]);
    assert.match(term.stdout, /model +\S+tiny-llm\.gguf +\(27\.3 MB\)/);

    const piped = await pull(runtime, false);
    assert.equal(piped.stderr, "", "no progress output without a terminal");
    assert.match(piped.stdout, /^model +\S+tiny-llm\.gguf +\(27\.3 MB\)\n$/);
  });
}
