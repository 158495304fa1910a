/** A fault inside the WASM engine fails the request in flight; the next request reloads the model. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { createApp } from "../routes/app.ts";
import { ModelService } from "../routes/service.ts";
import { models } from "./helpers.ts";

test("the server survives a trap inside the engine and serves the next request", async () => {
  const m = models();
  const service = new ModelService({
    load: { model: m.llm },
    threads: 2,
    parallel: 2,
    queue: 2,
    modelId: "tiny",
    repairNewlines: true,
    maxImages: 4,
    maxImageBytes: 1e6,
    imageFetchTimeoutMs: 1000,
    maxVideos: 1,
    maxVideoBytes: 1e6,
    maxVideoSeconds: 60,
  });
  const app = createApp(service, { maxBodyBytes: 1e6 });
  const chat = () =>
    app.request("/v1/chat/completions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        model: "tiny",
        messages: [{ role: "user", content: "Say hello." }],
        temperature: 0,
        max_tokens: 8,
      }),
    });
  try {
    const before = await (await chat()).json();
    const first = await service.model();
    await assert.rejects(first.engine.call("debugCrash"), /engine crashed/);
    assert.equal(first.engine.alive, false);

    const after = await chat();
    assert.equal(after.status, 200);
    assert.equal((await after.json()).choices[0].message.content, before.choices[0].message.content);
    assert.notEqual(await service.model(), first, "a new engine and model were loaded");
    assert.equal((await app.request("/health")).status, 200);
  } finally {
    await service.close();
  }
});
