/**
 * Ollama response bodies, compared as JSON text: /api/chat and /api/generate lines (whole and
 * streamed), and the model listing. Field order and content are what Ollama clients see.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import type { AssistantMessage } from "../../engine/ts/chat/output.ts";
import type { GenerationResult } from "../../engine/ts/generate.ts";
import {
  chatChunk,
  chatDone,
  chatMessage,
  eventMessages,
  generateChunk,
  generateDone,
  generateFields,
  generateLoaded,
  modelEntry,
  ollamaTimings,
  ollamaToolCalls,
  runningModel,
  showBody,
  toolCallMessage,
} from "../../routes/ollama-render.ts";

const AT = "2025-01-02T03:04:05.678Z";
const result = (o: Partial<GenerationResult> = {}): GenerationResult => ({
  text: "Hello",
  tokens: [1, 2, 3],
  finishReason: "stop",
  usage: { promptTokens: 10, completionTokens: 3, totalTokens: 13 },
  timings: { promptMs: 20.5, generateMs: 60.25 },
  ...o,
});
const TIMINGS = '"total_duration":123456789,"load_duration":0,"prompt_eval_count":10,' +
  '"prompt_eval_duration":20500000,"eval_count":3,"eval_duration":60250000';
const call = {
  id: "call_1",
  type: "function" as const,
  function: { name: "get_weather", arguments: '{"city":"Paris"}' },
};
const message = (o: Partial<AssistantMessage> = {}): AssistantMessage => ({
  content: "Hi",
  reasoning_content: "",
  tool_calls: [],
  ...o,
});
const json = (v: unknown) => JSON.stringify(v);

test("timings in nanoseconds, rounded", () => {
  assert.equal(json(ollamaTimings(result(), 123.456789)), `{${TIMINGS}}`);
  assert.equal(ollamaTimings(result(), 0.0000004).total_duration, 0);
});

test("a whole /api/chat answer: thinking and tool calls (argument objects) when present", () => {
  assert.equal(
    json(chatDone("tiny", AT, chatMessage(message()), result(), 123.456789)),
    `{"model":"tiny","created_at":"${AT}","message":{"role":"assistant","content":"Hi"},` +
      `"done":true,"done_reason":"stop",${TIMINGS}}`,
  );
  assert.equal(
    json(chatMessage(message({ content: "", reasoning_content: "hmm", tool_calls: [call] }))),
    '{"role":"assistant","content":"","thinking":"hmm",' +
      '"tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Paris"}}}]}',
  );
  assert.throws(() => ollamaToolCalls([{ ...call, function: { name: "f", arguments: "{bad" } }]), SyntaxError);
});

test("streamed /api/chat lines: content and thinking per event, tool calls whole, then done", () => {
  const events = [
    { type: "reasoning" as const, text: "r" },
    { type: "content" as const, text: "c" },
    { type: "tool_call_start" as const, index: 0, id: "call_1", name: "f" },
    { type: "tool_call_args" as const, index: 0, text: "{}" },
  ];
  assert.deepEqual(eventMessages(events).map((m) => json(chatChunk("tiny", AT, m))), [
    `{"model":"tiny","created_at":"${AT}","message":{"role":"assistant","content":"","thinking":"r"},"done":false}`,
    `{"model":"tiny","created_at":"${AT}","message":{"role":"assistant","content":"c"},"done":false}`,
  ]);
  assert.equal(
    json(chatChunk("tiny", AT, toolCallMessage([call]))),
    `{"model":"tiny","created_at":"${AT}","message":{"role":"assistant","content":"",` +
      '"tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Paris"}}}]},"done":false}',
  );
  assert.equal(
    json(chatDone("tiny", AT, { role: "assistant", content: "" }, result({ finishReason: "length" }), 123.456789)),
    `{"model":"tiny","created_at":"${AT}","message":{"role":"assistant","content":""},` +
      `"done":true,"done_reason":"length",${TIMINGS}}`,
  );
});

test("/api/generate fields: content into response, reasoning into thinking (only when there is some)", () => {
  assert.equal(json(generateFields([])), '{"response":""}');
  assert.equal(
    json(generateFields([
      { type: "reasoning", text: "a" },
      { type: "content", text: "b" },
      { type: "reasoning", text: "c" },
      { type: "content", text: "d" },
    ])),
    '{"response":"bd","thinking":"ac"}',
  );
});

test("/api/generate lines: pieces (none when empty), the whole answer, the last line", () => {
  assert.equal(
    json(generateChunk("tiny", AT, { response: "He" })),
    `{"model":"tiny","created_at":"${AT}","response":"He","done":false}`,
  );
  assert.equal(
    json(generateChunk("tiny", AT, { response: "", thinking: "t" })),
    `{"model":"tiny","created_at":"${AT}","response":"","thinking":"t","done":false}`,
  );
  assert.equal(generateChunk("tiny", AT, { response: "" }), undefined);
  assert.equal(
    json(generateDone("tiny", AT, { response: "Hello", thinking: "t" }, result(), 123.456789)),
    `{"model":"tiny","created_at":"${AT}","response":"Hello","thinking":"t",` +
      `"done":true,"done_reason":"stop",${TIMINGS}}`,
  );
  assert.equal(
    json(generateDone("tiny", AT, { response: "" }, result(), 123.456789)),
    `{"model":"tiny","created_at":"${AT}","response":"","done":true,"done_reason":"stop",${TIMINGS}}`,
  );
  assert.equal(
    json(generateLoaded("tiny", AT)),
    `{"model":"tiny","created_at":"${AT}","response":"","done":true,"done_reason":"load"}`,
  );
});

test("model listing: the quantization from the file name; /api/ps and /api/show", () => {
  const DETAILS = '{"parent_model":"","format":"gguf","family":"qwen35","families":["qwen35","clip"],' +
    '"parameter_size":"1.3B","quantization_level":"Q4_K_M"}';
  assert.equal(
    json(modelEntry("tiny", 1700000000, 1234, ["/m/MiniCPM-V-4.6-q4_k_m.gguf"])),
    '{"name":"tiny","model":"tiny","modified_at":"2023-11-14T22:13:20.000Z","size":1234,"digest":"",' +
      `"details":${DETAILS}}`,
  );
  const quant = (file: string) => modelEntry("m", 0, 0, [file]).details.quantization_level;
  assert.deepEqual(
    ["a-Q8_0.gguf", "a-f16.gguf", "a-BF16.gguf", "a-Q6_K.gguf", "tiny-llm.gguf"].map(quant),
    ["Q8_0", "F16", "BF16", "Q6_K", "unknown"],
  );
  assert.equal(modelEntry("m", 0, 0, []).details.quantization_level, "unknown");
  assert.equal(
    json(runningModel("tiny", 1700000000, 1234, ["/m/MiniCPM-V-4.6-q4_k_m.gguf"])),
    '{"name":"tiny","model":"tiny","modified_at":"2023-11-14T22:13:20.000Z","size":1234,"digest":"",' +
      `"details":${DETAILS},"expires_at":"0001-01-01T00:00:00Z","size_vram":0}`,
  );
  const files = ["/m/MiniCPM-V-4.6-q4_k_m.gguf"];
  const info = { files, sizeBytes: 1234, nCtxTrain: 4096, nEmbd: 1024, chatTemplate: "T" };
  assert.equal(
    json(showBody("tiny", 1700000000, info, true)),
    '{"modelfile":"FROM /m/MiniCPM-V-4.6-q4_k_m.gguf","parameters":"","template":"T",' +
      `"details":${DETAILS},"model_info":{"general.architecture":"qwen35","general.name":"tiny",` +
      '"qwen35.context_length":4096,"qwen35.embedding_length":1024},' +
      '"capabilities":["completion","tools","thinking","vision"],"modified_at":"2023-11-14T22:13:20.000Z"}',
  );
  const named = showBody("tiny", 0, { ...info, name: "MiniCPM", chatTemplate: undefined }, false);
  assert.deepEqual([named.template, named.model_info["general.name"], named.capabilities.includes("vision")], [
    "",
    "MiniCPM",
    false,
  ]);
});
