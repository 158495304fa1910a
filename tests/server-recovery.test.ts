/**
 * A fault inside the WASM engine fails only the requests it touched: the requests generating on
 * the engine answer 503 (a stream ends with an error event), while requests still waiting for a
 * sequence or still preparing run again on the model, which reloads at once (`/health` says
 * "loading", then "ok"), and the server keeps serving.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type ServerResponse } from "node:http";
import { test } from "node:test";
import { createApp } from "../routes/app.ts";
import { ModelService, type ServiceOptions } from "../routes/service.ts";
import { testServiceOptions } from "./service-options.ts";
import { models } from "./helpers.ts";

const m = models();

function service(extra: Partial<ServiceOptions> = {}) {
  return new ModelService(
    testServiceOptions({ load: { model: m.llm }, threads: 2, parallel: 2, queue: 2, maxImages: 4, ...extra }),
  );
}

const chatRequest = (body: Record<string, unknown>) => ({
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ model: "tiny", temperature: 0, ...body }),
});

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 60_000) {
  const t0 = performance.now();
  while (!(await check())) {
    if (performance.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test("the server survives a trap inside the engine and serves the next request", async () => {
  const s = service();
  const app = createApp(s, { maxBodyBytes: 1e6 });
  const chat = () =>
    app.request(
      "/v1/chat/completions",
      chatRequest({ messages: [{ role: "user", content: "Say hello." }], max_tokens: 8 }),
    );
  try {
    const before = await (await chat()).json();
    const first = await s.model();
    await assert.rejects(first.engine.call("debugCrash"), /engine crashed/);
    assert.equal(first.engine.alive, false);

    const after = await chat();
    assert.equal(after.status, 200);
    assert.equal((await after.json()).choices[0].message.content, before.choices[0].message.content);
    assert.notEqual(await s.model(), first, "a new engine and model were loaded");
    assert.equal((await app.request("/health")).status, 200);
  } finally {
    await s.close();
  }
});

test("a crash fails the requests generating on the engine; queued and preparing ones run on the reloaded model", async () => {
  // an image server that holds the image until told: a request stays preparing (fetching) meanwhile
  const jpeg = readFileSync(m.testJpeg);
  let held: ServerResponse[] = [];
  let open = true;
  const images = createServer((_req, res) => {
    const answer = (r: ServerResponse) => r.writeHead(200, { "content-type": "image/jpeg" }).end(jpeg);
    if (open) answer(res);
    else held.push(res);
  });
  await new Promise<void>((r) => images.listen(0, "127.0.0.1", r));
  const imageUrl = `http://127.0.0.1:${(images.address() as { port: number }).port}/test.jpg`;
  const release = () => {
    open = true;
    for (const res of held) res.writeHead(200, { "content-type": "image/jpeg" }).end(jpeg);
    held = [];
  };

  const s = service({
    load: { model: m.llm, mmproj: m.mmproj16x },
    queue: 8,
    allowPrivateUrls: true,
    imageFetchTimeoutMs: 120_000,
  });
  const app = createApp(s, { maxBodyBytes: 1e6 });
  const long = (stream: boolean) =>
    app.request(
      "/v1/chat/completions",
      chatRequest({
        messages: [{ role: "user", content: "Go on forever." }],
        max_tokens: 1800,
        ignore_eos: true,
        stream,
      }),
    );
  const short = (content: string) =>
    app.request("/v1/chat/completions", chatRequest({ messages: [{ role: "user", content }], max_tokens: 8 }));
  const withImage = () =>
    app.request(
      "/v1/chat/completions",
      chatRequest({
        messages: [{
          role: "user",
          content: [{ type: "image_url", image_url: { url: imageUrl } }, { type: "text", text: "What is it?" }],
        }],
        max_tokens: 8,
      }),
    );
  const completion = () => app.request("/v1/completions", chatRequest({ prompt: "Once upon a time", max_tokens: 8 }));
  const answer = async (r: Response | Promise<Response>) => {
    const res = await r;
    return { status: res.status, body: await res.json() };
  };
  try {
    // what the short requests answer when nothing goes wrong
    const expected = await Promise.all([
      answer(short("Say hello.")),
      answer(short("Name a colour.")),
      answer(withImage()),
    ]);
    const expectedCompletion = await answer(completion());
    assert.deepEqual([...expected, expectedCompletion].map((e) => e.status), [200, 200, 200, 200]);
    const first = await s.model();
    const scheduler = first.context.scheduler;

    // two requests generating (both sequences), two waiting for a sequence, one fetching its image
    open = false;
    const running = [long(false), long(true)];
    await until("both long requests generating", () => scheduler.active === 2 && scheduler.tokensGenerated > 2);
    const queued = [short("Say hello."), short("Name a colour.")];
    const queuedCompletion = completion();
    const preparing = withImage();
    await until("three requests waiting for a sequence", () => scheduler.queued === 3);
    await until("the image request fetching", () => held.length === 1);

    await assert.rejects(first.engine.call("debugCrash"), /engine crashed/);
    assert.deepEqual(await (await app.request("/health")).json(), { status: "loading" }, "the model reloads at once");

    // the requests that were generating fail with the table's 503 (a stream: an error event, no [DONE])
    const failed = await answer(running[0]);
    assert.equal(failed.status, 503, JSON.stringify(failed.body));
    assert.equal(failed.body.error.code, "engine_crashed");
    assert.match(failed.body.error.message, /engine crashed/);
    const stream = await running[1];
    assert.equal(stream.status, 200);
    const events = await stream.text();
    assert.match(events, /"code":"engine_crashed"/);
    assert.doesNotMatch(events, /\[DONE\]/);

    // the others run again on the new model, with the answers they give when nothing goes wrong
    release();
    const rerun = await Promise.all([answer(queued[0]), answer(queued[1]), answer(preparing)]);
    assert.deepEqual(rerun.map((r) => r.status), [200, 200, 200], JSON.stringify(rerun.map((r) => r.body)));
    assert.deepEqual(
      rerun.map((r) => r.body.choices[0].message.content),
      expected.map((e) => e.body.choices[0].message.content),
    );
    assert.ok(rerun[2].body.usage.prompt_tokens_details.image_tokens > 0);
    const rerunCompletion = await answer(queuedCompletion);
    assert.equal(rerunCompletion.status, 200, JSON.stringify(rerunCompletion.body));
    assert.equal(rerunCompletion.body.choices[0].text, expectedCompletion.body.choices[0].text);

    assert.notEqual(await s.model(), first, "a new engine and model were loaded");
    assert.deepEqual(await (await app.request("/health")).json(), { status: "ok" });
    const metrics = await (await app.request("/metrics")).text();
    assert.match(metrics, /^minicpmv_engine_crashes_total 1$/m);
    const next = await answer(short("Say hello."));
    assert.equal(next.status, 200);
    assert.equal(next.body.choices[0].message.content, expected[0].body.choices[0].message.content);
  } finally {
    release();
    await s.close();
    images.closeAllConnections();
    await new Promise((r) => images.close(r));
  }
});
