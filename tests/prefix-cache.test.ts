/**
 * The prefix cache through the real engine (tiny pair, and the K-quant tiny model): a request that
 * continues an earlier one prefills only what is new, and gives the tokens and logits a cold run
 * of the same prompt gives; a changed image or downsample mode is a miss; two sequences keep their
 * own conversations; a conversation displaced from its sequence is parked and restored; a tight
 * budget evicts checkpoints; a full sequence is trimmed and continued.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { readFileSync } from "node:fs";
import { encode as encodePng } from "fast-png";
import { type Context, Engine, evaluate, generate, Model } from "../mod.ts";
import type { GenerationResult, PromptInput } from "../engine/ts/generate.ts";
import { type Message, MiniCPMV } from "../engine/ts/minicpmv.ts";
import { type ChatMessage, renderChat } from "../engine/ts/chat/template.ts";
import { models } from "./helpers.ts";

/** Measured (max |hot - cold| over the vocabulary) in the comments of each test. */
const LOGIT_TOLERANCE = 1e-5;
const GREEDY = { temperature: 0, maxTokens: 12 } as const;

let engine: Engine;
let model: Model;
let jpeg: Uint8Array;

before(async () => {
  engine = await Engine.create({ threads: 2, logLevel: "error" });
  model = await Model.load(engine, models().llm);
  jpeg = new Uint8Array(readFileSync(models().testJpeg));
});
after(() => engine.terminate());

const maxAbsDiff = (a: Float32Array, b: Float32Array) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

async function chatTokens(m: Model, messages: ChatMessage[]): Promise<Int32Array> {
  return await m.tokenize(renderChat(m.info.chatTemplate!, messages));
}

/**
 * Runs `input` from the cache (greedy tokens, then the logits after the prompt from the same
 * cached state), then cold, and checks they agree. Returns the cached run's result.
 */
async function hotEqualsCold(ctx: Context, input: PromptInput, tolerance = LOGIT_TOLERANCE, label = "") {
  const hot = await generate(ctx, input, GREEDY).result;
  // the hot run kept a checkpoint 4 positions before the end of this prompt, made from the cached state
  const hotLogits = await evaluate(ctx, input, { cachePrompt: true });
  const cold = await generate(ctx, input, { ...GREEDY, cachePrompt: false }).result;
  const coldLogits = await evaluate(ctx, input);
  const diff = maxAbsDiff(hotLogits, coldLogits);
  console.log(`${label}: ${hot.usage.cachedTokens}/${hot.usage.promptTokens} cached, max |hot - cold| logit ${diff}`);
  assert.ok(diff <= tolerance, `${label}: logits differ by ${diff}`);
  assert.deepEqual(hot.tokens, cold.tokens, label);
  assert.equal(cold.usage.cachedTokens, 0);
  return hot;
}

async function threeTurns(m: Model, tolerance: number, label: string) {
  const ctx = await m.createContext({ contextSize: 2048 });
  try {
    const history: ChatMessage[] = [{ role: "user", content: "Tell me about the sea." }];
    const first = await generate(ctx, await chatTokens(m, history), GREEDY).result;
    assert.equal(first.usage.cachedTokens, 0);
    let answer = first;
    let previous = first.usage.promptTokens;
    for (const question of ["And the mountains?", "Which do you prefer?"]) {
      history.push({ role: "assistant", content: m.detokenize(answer.tokens) }, { role: "user", content: question });
      const prompt = await chatTokens(m, history);
      answer = await hotEqualsCold(ctx, { tokens: prompt }, tolerance, `${label}, turn ${history.length / 2 + 0.5}`);
      // the previous prompt up to its `<think>\n\n</think>\n\n`, which history does not repeat, came from the cache
      assert.equal(answer.usage.cachedTokens, previous - 4);
      previous = prompt.length;
    }
  } finally {
    await ctx.close();
  }
}

test("a 3-turn text conversation continues from the cache with the cold run's tokens and logits", async () => {
  await threeTurns(model, LOGIT_TOLERANCE, "F32");
});

test("the same on the K-quant tiny model", async () => {
  const q = await Model.load(engine, models().llmQ4k);
  try {
    await threeTurns(q, LOGIT_TOLERANCE, "K-quant");
  } finally {
    await q.close();
  }
});

test("a repeated prompt is served from its checkpoint, bit for bit", async () => {
  const ctx = await model.createContext({ contextSize: 1024 });
  try {
    const prompt = await chatTokens(model, [{ role: "user", content: "Count to ten." }]);
    const cold = await evaluate(ctx, prompt);
    const hot = await evaluate(ctx, prompt, { cachePrompt: true });
    assert.equal(maxAbsDiff(hot, cold), 0);
    assert.equal(ctx.scheduler.promptTokensCached, prompt.length - 4);
  } finally {
    await ctx.close();
  }
});

const gray = (value: number) => {
  const data = new Uint8Array(448 * 448 * 3).fill(value);
  return encodePng({ width: 448, height: 448, data, channels: 3, depth: 8 });
};

test("an image conversation: the follow-up is cached; a changed image or downsample mode is a miss", async () => {
  const mm = await MiniCPMV.load(engine, { model: models().llm, mmproj: models().mmproj16x, contextSize: 4096 });
  const run = async (
    messages: Message[],
    o: { downsampleMode?: "16x" | "4x"; cachePrompt?: boolean; maxTokens?: number } = {},
  ) => {
    const r = await mm.chat(messages, { ...GREEDY, ...o });
    return { run: r, result: await r.generation.result };
  };
  try {
    const turn1 = (image: Uint8Array): Message[] => [
      { role: "user", content: [{ type: "image", image }, { type: "text", text: "What is in the image?" }] },
    ];
    const first = await run(turn1(jpeg));
    assert.equal(first.result.usage.cachedTokens, 0);
    const followUp: Message[] = [
      ...turn1(jpeg),
      { role: "assistant", content: first.result.text },
      { role: "user", content: "Describe the colours." },
    ];
    // through MiniCPMV.chat: its embeddings carry the encode cache's tile keys
    const prefilled = await run(followUp, { maxTokens: 0 });
    const input = prefilled.run.prompt;
    const firstSpan = input.embeddings![0].start;
    const imageEnd = input.embeddings!.at(-1)!.start;
    assert.ok(prefilled.result.usage.cachedTokens! > imageEnd, `cached ${prefilled.result.usage.cachedTokens}`);
    assert.equal(prefilled.run.media.tilesEncoded, 0);
    // from the state that prefill reached: tokens and logits against a cold run
    await hotEqualsCold(mm.context, input, LOGIT_TOLERANCE, "image follow-up");
    const hot = await run(followUp);
    assert.ok(hot.result.usage.cachedTokens! > imageEnd);

    // embeddings without keys are identified by their bits
    const unkeyed = (p: PromptInput, change = 0): PromptInput => ({
      tokens: p.tokens,
      embeddings: p.embeddings!.map(({ start, data }) => ({
        start,
        data: change ? data.map((x) => x + change) : data,
      })),
    });
    await evaluate(mm.context, unkeyed(input));
    assert.ok((await generate(mm.context, unkeyed(input), GREEDY).result).usage.cachedTokens! > imageEnd);
    assert.equal((await generate(mm.context, unkeyed(input, 1e-3), GREEDY).result).usage.cachedTokens, 0);

    // another image in the same place: nothing before the image is worth a checkpoint, so nothing is reused
    const other = await run([...turn1(gray(90)).slice(0, 1), ...followUp.slice(1)]);
    assert.equal(other.result.usage.cachedTokens, 0);
    assert.ok(firstSpan > 0);
    // the first image again, in 4x: other embeddings (and more of them) at the same place
    const fourX = await run(followUp, { downsampleMode: "4x" });
    assert.equal(fourX.result.usage.cachedTokens, 0);
    const fourXCold = await run(followUp, { downsampleMode: "4x", cachePrompt: false });
    assert.deepEqual(fourX.result.tokens, fourXCold.result.tokens);
    // and 16x again: the 4x runs replaced the sequence's content, so this is a miss too, but correct
    const again = await run(followUp);
    assert.deepEqual(again.result.tokens, hot.result.tokens);
  } finally {
    mm.close();
    await mm.context.close();
    await mm.model.close();
  }
});

test("two sequences: two conversations side by side each continue from their own sequence", async () => {
  const ctx = await model.createContext({ contextSize: 2048, sequences: 2 });
  try {
    const topics = ["the sea", "the mountains"];
    const firsts = await Promise.all(topics.map(async (t) => {
      const history: ChatMessage[] = [{ role: "user", content: `Tell me about ${t}.` }];
      return { history, result: await generate(ctx, await chatTokens(model, history), GREEDY).result };
    }));
    const prompts = await Promise.all(firsts.map(({ history, result }) =>
      chatTokens(model, [
        ...history,
        { role: "assistant", content: model.detokenize(result.tokens) },
        { role: "user", content: "Why?" },
      ])
    ));
    const hot = await Promise.all(prompts.map((tokens) => generate(ctx, tokens, GREEDY).result));
    for (const r of hot) assert.ok(r.usage.cachedTokens! > 0, "each follow-up found its conversation");
    const cold = await Promise.all(
      prompts.map((tokens) => generate(ctx, tokens, { ...GREEDY, cachePrompt: false }).result),
    );
    assert.deepEqual(hot.map((r) => r.tokens), cold.map((r) => r.tokens));
  } finally {
    await ctx.close();
  }
});

test("one sequence, two conversations: each is parked while the other runs and continues bit for bit", async () => {
  const ctx = await model.createContext({ contextSize: 2048, sequences: 1 });
  try {
    const first = (topic: string): ChatMessage[] => [{ role: "user", content: `Tell me about ${topic}.` }];
    const prompts1 = [await chatTokens(model, first("the sea")), await chatTokens(model, first("the mountains"))];
    const answers = [];
    for (const p of prompts1) answers.push(await generate(ctx, p, GREEDY).result);
    assert.equal(ctx.scheduler.checkpoints.parked.length, 1, "the first conversation was parked");
    for (const [i, topic] of ["the sea", "the mountains"].entries()) {
      const prompt = await chatTokens(model, [
        ...first(topic),
        { role: "assistant", content: model.detokenize(answers[i].tokens) },
        { role: "user", content: "Why?" },
      ]);
      const hot = await hotEqualsCold(ctx, { tokens: prompt }, LOGIT_TOLERANCE, `parked conversation ${i + 1}`);
      assert.equal(hot.usage.cachedTokens, prompts1[i].length - 4);
    }
  } finally {
    await ctx.close();
  }
});

test("a budget for one checkpoint: the older conversation's is evicted and it prefills again, correctly", async () => {
  const probe = await model.createContext({ contextSize: 1024 });
  await evaluate(probe, await chatTokens(model, [{ role: "user", content: "Hi" }]));
  const checkpointBytes = probe.scheduler.checkpoints.bytes;
  await probe.close();
  assert.ok(checkpointBytes > 0);

  const ctx = await model.createContext({ contextSize: 2048, sequences: 2, cacheRamBytes: checkpointBytes * 1.5 });
  try {
    const turn = async (topic: string, prev?: GenerationResult) => {
      const history: ChatMessage[] = [{ role: "user", content: `Tell me about ${topic}.` }];
      if (prev) {
        history.push({ role: "assistant", content: model.detokenize(prev.tokens) }, { role: "user", content: "Why?" });
      }
      return {
        tokens: await chatTokens(model, history),
        result: await generate(ctx, await chatTokens(model, history), GREEDY).result,
      };
    };
    const a1 = await turn("the sea");
    const b1 = await turn("the mountains"); // on the other sequence; its checkpoint evicts a1's
    assert.equal(ctx.scheduler.checkpoints.count, 1);
    const a2 = await turn("the sea", a1.result);
    assert.equal(a2.result.usage.cachedTokens, 0, "a's checkpoint was evicted");
    const a2cold = await generate(ctx, a2.tokens, { ...GREEDY, cachePrompt: false }).result;
    assert.deepEqual(a2.result.tokens, a2cold.tokens);
    // b's checkpoint was in turn evicted by a2's
    assert.equal((await turn("the mountains", b1.result)).result.usage.cachedTokens, 0);
  } finally {
    await ctx.close();
  }

  const none = await model.createContext({ contextSize: 1024, cacheRamBytes: 0 });
  try {
    const prompt = await chatTokens(model, [{ role: "user", content: "Hi" }]);
    await evaluate(none, prompt);
    const r = await generate(none, prompt, GREEDY).result;
    assert.equal(r.usage.cachedTokens, 0);
    assert.equal(none.scheduler.checkpoints.count, 0);
  } finally {
    await none.close();
  }
});

test("a sequence filled to its end is trimmed back to a checkpoint and continued", async () => {
  const ctx = await model.createContext({ contextSize: 256 });
  try {
    const prompt = await chatTokens(model, [{ role: "user", content: "Write a long story." }]);
    const full = await generate(ctx, prompt, { temperature: 0, maxTokens: 1000, ignoreEos: true }).result;
    assert.equal(full.finishReason, "length");
    assert.ok(prompt.length + full.tokens.length >= ctx.sequenceSize - 1);
    // the prompt, part of the answer and new text: shorter than the sequence, sharing its start
    const next = Int32Array.from([...prompt, ...full.tokens.slice(0, 100), ...prompt.slice(0, 20)]);
    const hot = await hotEqualsCold(ctx, { tokens: next }, LOGIT_TOLERANCE, "full sequence");
    assert.equal(hot.usage.cachedTokens, prompt.length - 4);
  } finally {
    await ctx.close();
  }
});
