/**
 * OpenAI response bodies, compared as JSON text: field order and content are what clients
 * (and their snapshot tests) see, so they must not drift.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import type { AssistantMessage } from "../../engine/ts/chat/output.ts";
import type { GenerationResult, TokenLogprobs } from "../../engine/ts/generate.ts";
import {
  chatChunk,
  chatChunks,
  chatCompletion,
  chatDelta,
  chatFinishReason,
  chatLastChunk,
  completion,
  completionChunk,
  completionLastChunk,
  legacyLogprobs,
  logprobContent,
  modelList,
  newId,
  timingsBody,
  usageBody,
  usageChunk,
} from "../../routes/openai-render.ts";

const ref = { id: "chatcmpl-1", created: 1700000000, model: "tiny" };
const result = (o: Partial<GenerationResult> = {}): GenerationResult => ({
  text: "Hello",
  tokens: [1, 2, 3],
  finishReason: "stop",
  usage: { promptTokens: 10, completionTokens: 3, totalTokens: 13 },
  timings: { promptMs: 20, generateMs: 60 },
  ...o,
});
const message = (o: Partial<AssistantMessage> = {}): AssistantMessage => ({
  content: "Hello",
  reasoning_content: "",
  tool_calls: [],
  ...o,
});
const call = { id: "call_1", type: "function" as const, function: { name: "f", arguments: '{"a":1}' } };
/** token i is the text "t<i>"; 200 is "é" (two bytes) */
const vocab = { bytes: (t: number) => new TextEncoder().encode(t === 200 ? "é" : `t${t}`) };
const json = (v: unknown) => JSON.stringify(v);
const media = (imageTokens: number, videoTokens = 0) => ({ imageTokens, videoTokens });

test("usage (image and video tokens when given) and llama-server timings", () => {
  assert.equal(json(usageBody(result())), '{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13}');
  assert.equal(
    json(usageBody(result(), media(64))),
    '{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,' +
      '"prompt_tokens_details":{"image_tokens":64,"cached_tokens":0}}',
  );
  assert.equal(
    json(usageBody(result(), media(0, 660))),
    '{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,' +
      '"prompt_tokens_details":{"image_tokens":0,"video_tokens":660,"cached_tokens":0}}',
  );
  assert.equal(
    json(timingsBody(result())),
    '{"cache_n":0,"prompt_n":10,"prompt_ms":20,"predicted_n":3,"predicted_ms":60,"predicted_per_second":50}',
  );
  assert.equal(timingsBody(result({ timings: { promptMs: 5, generateMs: 0 } })).predicted_per_second, 0);
});

test("a whole chat completion", () => {
  assert.equal(
    json(chatCompletion(ref, message(), result(), undefined, media(0))),
    '{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"tiny",' +
      '"choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},' +
      '"logprobs":null,"finish_reason":"stop"}],' +
      '"usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,' +
      '"prompt_tokens_details":{"image_tokens":0,"cached_tokens":0}},' +
      '"timings":{"cache_n":0,"prompt_n":10,"prompt_ms":20,"predicted_n":3,"predicted_ms":60,"predicted_per_second":50}}',
  );
});

test("chat message: reasoning and tool calls when present; null content only beside tool calls", () => {
  const choice = (m: AssistantMessage, r = result()) => chatCompletion(ref, m, r, undefined, media(0)).choices[0];
  assert.equal(
    json(choice(message({ content: "", reasoning_content: "hmm", tool_calls: [call] })).message),
    '{"role":"assistant","content":null,"reasoning_content":"hmm",' +
      '"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\\"a\\":1}"}}]}',
  );
  assert.equal(choice(message({ tool_calls: [call] })).finish_reason, "tool_calls");
  assert.equal(json(choice(message({ content: "" })).message), '{"role":"assistant","content":""}');
  assert.equal(choice(message(), result({ finishReason: "length" })).finish_reason, "length");
  assert.equal(chatFinishReason(message({ tool_calls: [call] }), result({ finishReason: "length" })), "tool_calls");
});

test("logprobs: token text and bytes, top alternatives cut to the number asked", () => {
  const top = [{ token: 200, logprob: -0.5 }, { token: 7, logprob: -1 }];
  const lps: TokenLogprobs[] = [{ token: 200, logprob: -0.5, top }];
  assert.equal(
    json(logprobContent(vocab, lps, 1)),
    '[{"token":"é","logprob":-0.5,"bytes":[195,169],' +
      '"top_logprobs":[{"token":"é","logprob":-0.5,"bytes":[195,169]}]}]',
  );
  assert.equal(json(logprobContent(vocab, lps, 0)[0].top_logprobs), "[]");
  const entries = logprobContent(vocab, lps, 2);
  assert.equal(
    json(chatCompletion(ref, message(), result(), entries, media(0)).choices[0].logprobs),
    json({ content: entries }),
  );
  assert.equal(json(chatCompletion(ref, message(), result(), [], media(0)).choices[0].logprobs), '{"content":[]}');
  const legacy = [{ token: 1, logprob: -0.25, top: [{ token: 1, logprob: -0.25 }, { token: 2, logprob: -2 }] }];
  assert.equal(
    json(legacyLogprobs(vocab, legacy)),
    '{"tokens":["t1"],"token_logprobs":[-0.25],"top_logprobs":[{"t1":-0.25,"t2":-2}]}',
  );
});

test("chat chunks: the first one, deltas per output event, logprobs on the first delta", () => {
  assert.equal(
    json(chatChunk(ref, { role: "assistant", content: "" })),
    '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"tiny",' +
      '"choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}',
  );
  const lp = logprobContent(vocab, [{ token: 3, logprob: -0.1, top: [] }], 0);
  const chunks = chatChunks(ref, [{ type: "reasoning", text: "r" }, { type: "content", text: "c" }], lp);
  assert.deepEqual(chunks.map((c) => json(c.choices)), [
    '[{"index":0,"delta":{"reasoning_content":"r"},' +
    '"logprobs":{"content":[{"token":"t3","logprob":-0.1,"bytes":[116,51],"top_logprobs":[]}]},"finish_reason":null}]',
    '[{"index":0,"delta":{"content":"c"},"logprobs":null,"finish_reason":null}]',
  ]);
  // no delta (text held back by a parser): the logprobs still go out, on an empty delta
  assert.equal(
    json(chatChunks(ref, [], lp).map((c) => c.choices[0].delta)),
    "[{}]",
  );
  assert.deepEqual(chatChunks(ref, []), []);
  assert.deepEqual(chatChunks(ref, [{ type: "tool_call_end", index: 0 }]), []);
});

test("tool call deltas: a start with id and name, then argument fragments", () => {
  assert.equal(
    json(chatDelta({ type: "tool_call_start", index: 0, id: "call_1", name: "f" })),
    '{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}',
  );
  assert.equal(
    json(chatDelta({ type: "tool_call_args", index: 1, text: '{"a"' })),
    '{"tool_calls":[{"index":1,"function":{"arguments":"{\\"a\\""}}]}',
  );
  assert.equal(chatDelta({ type: "tool_call_end", index: 0 }), undefined);
});

test("the last chat chunk and the usage chunk", () => {
  assert.equal(
    json(chatLastChunk(ref, "tool_calls", result())),
    '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"tiny",' +
      '"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],' +
      '"timings":{"cache_n":0,"prompt_n":10,"prompt_ms":20,"predicted_n":3,"predicted_ms":60,"predicted_per_second":50}}',
  );
  assert.equal(
    json(usageChunk(ref, "chat.completion.chunk", usageBody(result(), media(5)))),
    '{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"tiny","choices":[],' +
      '"usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13,' +
      '"prompt_tokens_details":{"image_tokens":5,"cached_tokens":0}}}',
  );
});

test("text completions: whole, streamed pieces, the last chunk", () => {
  const cref = { ...ref, id: "cmpl-1" };
  assert.equal(
    json(completion(cref, result({ finishReason: "length" }), null)),
    '{"id":"cmpl-1","object":"text_completion","created":1700000000,"model":"tiny",' +
      '"choices":[{"text":"Hello","index":0,"logprobs":null,"finish_reason":"length"}],' +
      '"usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13},' +
      '"timings":{"cache_n":0,"prompt_n":10,"prompt_ms":20,"predicted_n":3,"predicted_ms":60,"predicted_per_second":50}}',
  );
  assert.equal(
    json(completionChunk(cref, "He", { tokens: ["He"] })),
    '{"id":"cmpl-1","object":"text_completion","created":1700000000,"model":"tiny",' +
      '"choices":[{"text":"He","index":0,"logprobs":{"tokens":["He"]},"finish_reason":null}]}',
  );
  assert.equal(
    json(completionLastChunk(cref, result())),
    '{"id":"cmpl-1","object":"text_completion","created":1700000000,"model":"tiny",' +
      '"choices":[{"text":"","index":0,"logprobs":null,"finish_reason":"stop"}],' +
      '"timings":{"cache_n":0,"prompt_n":10,"prompt_ms":20,"predicted_n":3,"predicted_ms":60,"predicted_per_second":50}}',
  );
  assert.equal(
    json(usageChunk(cref, "text_completion", usageBody(result()))),
    '{"id":"cmpl-1","object":"text_completion","created":1700000000,"model":"tiny","choices":[],' +
      '"usage":{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13}}',
  );
});

test("model list and response ids", () => {
  assert.equal(
    json(modelList("tiny", 1700000000)),
    '{"object":"list","data":[{"id":"tiny","object":"model","created":1700000000,"owned_by":"minicpmv-edge"}]}',
  );
  assert.match(newId("chatcmpl"), /^chatcmpl-[0-9a-f]{32}$/);
  assert.notEqual(newId("x"), newId("x"));
});
