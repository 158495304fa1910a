/** Text generation through the real engine: stop strings, limits, abort, seeds, grammar, errors. */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { AbortError, type Context, Engine, EngineError, generate, InvalidRequestError, Model } from "../mod.ts";
import { models } from "./helpers.ts";

let engine: Engine;
let model: Model;
let ctx: Context;
let prompt: Int32Array;

before(async () => {
  engine = await Engine.create({ threads: 2, logLevel: "error" });
  model = await Model.load(engine, models().llm);
  ctx = await model.createContext({ contextSize: 256, batchSize: 64 });
  prompt = await model.tokenize("Once upon a time");
});
after(() => engine.terminate());

const greedy = { temperature: 0 };

test("streamed pieces add up to the result; usage counts tokens", async () => {
  const gen = generate(ctx, prompt, { ...greedy, maxTokens: 20 });
  let streamed = "";
  for await (const p of gen) streamed += p.text;
  const r = await gen.result;
  assert.equal(streamed, r.text);
  assert.equal(r.finishReason, "length");
  assert.equal(r.tokens.length, 20);
  const { cachedTokens, ...counts } = r.usage; // cachedTokens: from the prefix cache (tests/prefix-cache.test.ts)
  assert.deepEqual(counts, { promptTokens: prompt.length, completionTokens: 20, totalTokens: prompt.length + 20 });
  assert.ok(cachedTokens! >= 0 && cachedTokens! < prompt.length);
  assert.equal(model.detokenize(r.tokens), r.text);
});

test("stop strings end generation before the stop text", async () => {
  const full = await generate(ctx, prompt, { ...greedy, maxTokens: 24 }).result;
  const stop = full.text.slice(Math.floor(full.text.length / 2), Math.floor(full.text.length / 2) + 3);
  assert.ok(stop.length === 3, `unexpected text ${JSON.stringify(full.text)}`);
  const r = await generate(ctx, prompt, { ...greedy, maxTokens: 24, stop: [stop] }).result;
  assert.equal(r.finishReason, "stop");
  assert.equal(r.text, full.text.slice(0, full.text.indexOf(stop)));
});

test("the same seed samples the same tokens, another seed differs", async () => {
  const opts = { temperature: 1.0, topK: 0, topP: 1, minP: 0, maxTokens: 16 };
  const a = await generate(ctx, prompt, { ...opts, seed: 1 }).result;
  const b = await generate(ctx, prompt, { ...opts, seed: 1 }).result;
  const c = await generate(ctx, prompt, { ...opts, seed: 2 }).result;
  assert.deepEqual(a.tokens, b.tokens);
  assert.notDeepEqual(a.tokens, c.tokens);
});

test("an AbortSignal stops generation and leaves the engine usable", async () => {
  const controller = new AbortController();
  const gen = generate(ctx, prompt, { ...greedy, maxTokens: 200, signal: controller.signal });
  let pieces = 0;
  await assert.rejects(
    (async () => {
      for await (const _ of gen) if (++pieces === 3) controller.abort();
    })(),
    AbortError,
  );
  assert.ok(pieces >= 3 && pieces < 200);
  const r = await generate(ctx, prompt, { ...greedy, maxTokens: 4 }).result;
  assert.equal(r.tokens.length, 4);
});

test("a GBNF grammar constrains the output", async () => {
  const r = await generate(ctx, prompt, {
    temperature: 1,
    seed: 3,
    maxTokens: 8,
    grammar: 'root ::= ("yes" | "no") "."',
  })
    .result;
  assert.match(r.text, /^(yes|no)\.$/);
  assert.equal(r.finishReason, "stop");
});

test("bad arguments give typed errors", async () => {
  await assert.rejects(generate(ctx, prompt, { temperature: -1 }).result, InvalidRequestError);
  await assert.rejects(generate(ctx, prompt, { grammar: "root ::= (" }).result, (e: unknown) => {
    assert.ok(e instanceof EngineError);
    assert.equal(e.code, "invalid_grammar");
    return true;
  });
  await assert.rejects(generate(ctx, new Int32Array(300).fill(9707)).result, /context holds 256/);
  await assert.rejects(generate(ctx, [10_000_000]).result, /outside the vocabulary/);
  await assert.rejects(generate(ctx, []).result, InvalidRequestError);
  assert.throws(() => model.detokenize([-1]), InvalidRequestError);
});

test("special tokens: parsed in prompts on request, hidden in output unless asked", async () => {
  const parsed = await model.tokenize("<|im_start|>user");
  const literal = await model.tokenize("<|im_start|>user", { parseSpecial: false });
  assert.equal(parsed[0], model.vocab.idOf("<|im_start|>"));
  assert.ok(literal.length > parsed.length);
  assert.equal(model.detokenize(parsed), "user");
  assert.equal(model.detokenize(parsed, { special: true }), "<|im_start|>user");
  assert.ok(model.vocab.isEog(model.vocab.idOf("<|im_end|>")!));
});
