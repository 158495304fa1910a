/**
 * llama-server compatibility through the real server on the tiny pair: its extension fields on the OpenAI
 * routes (implemented ones change the output, accepted ones are not refused, unknown fields still are), the
 * body its web UI sends by default, its native POST /completion (whole and streamed, prompt text or token
 * ids) and the read-only GET /props and GET /slots.
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { models, startServer, type TestServer } from "./helpers.ts";

const MODEL = "tiny-llm";
const CTX = 512; // a sequence's positions (a multiple of 256); max_tokens -1 runs to its end
const m = models();
let server: TestServer;

const post = (path: string, body: unknown) =>
  fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
const json = async (path: string, body: unknown, status = 200) => {
  const r = await post(path, body);
  const out = await r.json();
  assert.equal(r.status, status, JSON.stringify(out));
  return out;
};
// deno-lint-ignore no-explicit-any
type Json = any;

/** the JSON bodies of a server-sent-events response, and whether it ended with [DONE] */
async function events(r: Response): Promise<{ bodies: Json[]; done: boolean }> {
  const text = await r.text();
  const data = text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6));
  const done = data.at(-1) === "[DONE]";
  return { bodies: data.filter((d) => d !== "[DONE]").map((d) => JSON.parse(d)), done };
}
const greedy = { temperature: 0, ignore_eos: true };
const chatMessages = [{ role: "user", content: "Say hello." }];

before(async () => {
  server = await startServer("deno", [
    "--model",
    m.llm,
    "--mmproj",
    m.mmproj16x,
    "--parallel",
    "2",
    "--ctx-size",
    String(CTX * 2), // 2 sequences of CTX positions
    "--threads",
    "2",
  ]);
});
after(() => server?.stop());

test("chat: cache_prompt, n_predict and typical_p are accepted and n_predict is honoured", async () => {
  const r = await json("/v1/chat/completions", {
    model: MODEL,
    messages: chatMessages,
    cache_prompt: true,
    n_predict: 5,
    typical_p: 0.9,
    ...greedy,
  });
  assert.equal(r.usage.completion_tokens, 5);
  assert.equal(r.choices[0].finish_reason, "length");
  // max_tokens wins over its alias
  const both = await json("/v1/chat/completions", {
    model: MODEL,
    messages: chatMessages,
    n_predict: 9,
    max_tokens: 3,
    ...greedy,
  });
  assert.equal(both.usage.completion_tokens, 3);
});

test("an unknown field is still refused with OpenAI's 400", async () => {
  const r = await json("/v1/chat/completions", { model: MODEL, messages: chatMessages, frobnicate: 1 }, 400);
  assert.match(r.error.message, /Unrecognized request argument supplied: frobnicate/);
  const c = await json("/v1/completions", { model: MODEL, prompt: "x", n_predict: 2, zap: true }, 400);
  assert.match(c.error.message, /zap/);
  const out = await json("/v1/completions", { model: MODEL, prompt: "x", repeat_last_n: 1e7 }, 400);
  assert.match(out.error.message, /repeat_last_n/);
});

test("repeat_last_n reaches the sampler: 0 turns the repetition penalty off", async () => {
  // a repeat_penalty below 1 favours the tokens already generated: the greedy run then repeats them
  const body = { prompt: "The cat sat on the mat. The cat", n_predict: 20, return_tokens: true, ...greedy };
  const plain = await json("/completion", body);
  const favoured = await json("/completion", { ...body, repeat_penalty: 0.01, repeat_last_n: 64 });
  const off = await json("/completion", { ...body, repeat_penalty: 0.01, repeat_last_n: 0 });
  assert.deepEqual(off.tokens, plain.tokens);
  assert.notDeepEqual(favoured.tokens, plain.tokens);
  assert.ok(new Set(favoured.tokens).size < new Set(plain.tokens).size, JSON.stringify(favoured.tokens));
  // and on the OpenAI route
  const v1 = { model: MODEL, prompt: body.prompt, max_tokens: 20, repeat_penalty: 0.01, ...greedy };
  assert.equal((await json("/v1/completions", { ...v1, repeat_last_n: 64 })).choices[0].text, favoured.content);
  assert.equal((await json("/v1/completions", { ...v1, repeat_last_n: 0 })).choices[0].text, plain.content);
});

test("the body llama-server's web UI sends by default (max_tokens -1: up to the end of the context)", async () => {
  const webUi = {
    messages: chatMessages,
    stream: true,
    cache_prompt: true,
    reasoning_format: "auto",
    samplers: "edkypmxt",
    temperature: 0.8,
    dynatemp_range: 0,
    dynatemp_exponent: 1,
    top_k: 40,
    top_p: 0.95,
    min_p: 0.05,
    typical_p: 1,
    xtc_probability: 0,
    xtc_threshold: 0.1,
    repeat_last_n: 64,
    repeat_penalty: 1,
    presence_penalty: 0,
    frequency_penalty: 0,
    dry_multiplier: 0,
    dry_base: 1.75,
    dry_allowed_length: 2,
    dry_penalty_last_n: -1,
    max_tokens: -1,
    timings_per_token: false,
    ignore_eos: true, // so that the run reaches the end of the context
    model: MODEL,
  };
  const r = await post("/v1/chat/completions", webUi);
  assert.equal(r.status, 200);
  const { bodies, done } = await events(r);
  assert.ok(done);
  assert.equal(bodies.at(-1).choices[0].finish_reason, "length");
  const pieces = bodies.filter((b) => b.choices[0]?.delta?.content).length;
  assert.ok(pieces > 256, `${pieces} pieces: -1 must not mean the default of 256 tokens`);
  // the same fields on /v1/completions, and llama-server's other ones (mirostat, DRY, XTC, slot, probs)
  const c = await json("/v1/completions", {
    model: MODEL,
    prompt: "Hello",
    n_predict: 4,
    mirostat: 0,
    mirostat_tau: 5,
    mirostat_eta: 0.1,
    dry_sequence_breakers: ["\n", ":"],
    xtc_probability: 0.5,
    id_slot: 1,
    n_probs: 3,
    return_tokens: true,
    t_max_predict_ms: 1000,
    samplers: ["top_k", "temperature"],
    n_keep: 0,
    ...greedy,
  });
  assert.equal(c.usage.completion_tokens, 4);
});

test("POST /completion: text prompt, n_predict, tokens, probabilities and timings as llama-server", async () => {
  const body = { prompt: "Hello there", n_predict: 5, return_tokens: true, n_probs: 2, cache_prompt: false, ...greedy };
  const r = await json("/completion", body);
  assert.equal(typeof r.content, "string");
  assert.equal(r.tokens.length, 5);
  assert.ok(r.tokens.every((t: unknown) => Number.isInteger(t)));
  assert.equal(r.stop, true);
  assert.equal(r.stop_type, "limit");
  assert.equal(r.tokens_predicted, 5);
  assert.ok(r.tokens_evaluated > 0);
  assert.equal(r.model, MODEL);
  assert.equal(r.timings.predicted_n, 5);
  for (const k of ["prompt_n", "prompt_ms", "predicted_ms", "predicted_per_second"]) {
    assert.equal(typeof r.timings[k], "number");
  }
  assert.equal(r.completion_probabilities.length, 5);
  for (const [i, p] of r.completion_probabilities.entries()) {
    assert.equal(p.id, r.tokens[i]);
    assert.ok(p.logprob <= 0);
    assert.equal(p.top_logprobs.length, 2);
  }
  // the same greedy text as the OpenAI route
  const v1 = await json("/v1/completions", { model: MODEL, prompt: "Hello there", max_tokens: 5, ...greedy });
  assert.equal(r.content, v1.choices[0].text);
  // token ids as the prompt, no tokens unless asked for; /completions is the same route
  const ids = (await json("/tokenize", { content: "Hello there" })).tokens;
  const byIds = await json("/completions", { prompt: ids, n_predict: 5, ...greedy });
  assert.equal(byIds.content, r.content);
  assert.deepEqual(byIds.tokens, []);
  await json("/completion", { prompt: "x", n_predict: 2, nonsense: 1 }, 400);
  await json("/completion", { n_predict: 2 }, 400);
});

test("POST /completion streamed: content pieces, then a last event with stop and timings (no [DONE])", async () => {
  const whole = await json("/completion", { prompt: "Once upon", n_predict: 6, ...greedy });
  const r = await post("/completion", {
    prompt: "Once upon",
    n_predict: 6,
    stream: true,
    return_tokens: true,
    ...greedy,
  });
  assert.equal(r.status, 200);
  assert.match(r.headers.get("content-type") ?? "", /text\/event-stream/);
  const { bodies, done } = await events(r);
  assert.equal(done, false);
  const last = bodies.at(-1);
  assert.equal(last.stop, true);
  assert.equal(last.tokens_predicted, 6);
  assert.equal(last.timings.predicted_n, 6);
  const pieces = bodies.slice(0, -1);
  assert.ok(pieces.length > 0 && pieces.every((b) => b.stop === false));
  assert.equal(pieces.map((b) => b.content).join(""), whole.content);
  assert.equal(pieces.flatMap((b) => b.tokens).length, 6);
});

test("GET /props and GET /slots: the fields llama-server's UIs read", async () => {
  const props = await (await fetch(`${server.url}/props`)).json();
  assert.equal(props.total_slots, 2);
  assert.deepEqual(props.modalities, { vision: true, audio: false });
  assert.match(props.model_path, /tiny-llm\.gguf$/);
  assert.equal(typeof props.chat_template, "string");
  assert.ok(props.chat_template.length > 0);
  assert.equal(typeof props.build_info, "string");
  assert.equal(props.is_sleeping, false);
  const d = props.default_generation_settings;
  assert.equal(d.n_ctx, CTX);
  assert.equal(d.params.temperature, 0.8);
  assert.equal(d.params.top_k, 40);
  assert.equal(d.params.n_predict, 256);

  const idle = await (await fetch(`${server.url}/slots`)).json();
  assert.equal(idle.length, 2);
  assert.deepEqual(idle.map((s: Json) => [s.id, s.is_processing, s.n_ctx]), [[0, false, CTX], [1, false, CTX]]);

  // while a stream runs, one slot is at work
  const ctrl = new AbortController();
  const r = await post("/completion", { prompt: "Go", n_predict: 400, stream: true, ...greedy }).then((r) => r);
  const reader = r.body!.getReader();
  await reader.read(); // the first piece: the request holds a sequence
  const busy = await (await fetch(`${server.url}/slots`)).json();
  assert.equal(busy.filter((s: Json) => s.is_processing).length, 1);
  await reader.cancel();
  ctrl.abort();
});
