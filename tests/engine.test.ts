/** The engine's worker boundary: a fault inside wasm fails that engine's calls, not the process. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { Engine, EngineError, Model } from "../mod.ts";
import { models } from "./helpers.ts";

test("a trap inside wasm marks the engine crashed; the process and a new engine carry on", async () => {
  const engine = await Engine.create({ threads: 2, logLevel: "none" });
  const model = await Model.load(engine, models().llm);
  await assert.rejects(engine.call("debugCrash"), (e: unknown) => {
    assert.ok(e instanceof EngineError);
    assert.equal(e.code, "engine_crashed");
    return true;
  });
  assert.equal(engine.alive, false);
  await assert.rejects(
    model.tokenize("still there?"),
    (e: unknown) => e instanceof EngineError && e.code === "engine_crashed",
  );
  engine.terminate();

  const fresh = await Engine.create({ threads: 2, logLevel: "none" });
  const again = await Model.load(fresh, models().llm);
  assert.deepEqual([...await again.tokenize("Hello world")], [9707, 1879]);
  fresh.terminate();
});

test("threads default to the hardware concurrency", async () => {
  const engine = await Engine.create({ logLevel: "none" });
  assert.equal(engine.threads, navigator.hardwareConcurrency);
  engine.terminate();
});
