/** Request bodies into engine jobs: OpenAI and Ollama chat/generate bodies as ChatJobs, options and prompts. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { HttpError } from "../../routes/errors.ts";
import * as ollama from "../../routes/ollama-request.ts";
import * as openai from "../../routes/openai-request.ts";

const signal = new AbortController().signal;

test("openai: messages (developer is system, images resolved, history tool arguments as objects)", () => {
  const b = openai.chatSchema.parse({
    model: "m",
    messages: [
      { role: "developer", content: "be brief" },
      { role: "user", content: [{ type: "text", text: "what?" }, { type: "image_url", image_url: "pic.jpg" }] },
      {
        role: "assistant",
        content: null,
        reasoning_content: "thinking",
        tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: '{"a":1}' } }],
      },
      { role: "tool", content: "42", tool_call_id: "c1" },
    ],
  });
  assert.deepEqual(openai.toMessages(b.messages, "/media"), [
    { role: "system", content: "be brief" },
    { role: "user", content: [{ type: "text", text: "what?" }, { type: "image", image: "/media/pic.jpg" }] },
    {
      role: "assistant",
      content: null,
      reasoning_content: "thinking",
      tool_calls: [{ id: "c1", type: "function", function: { name: "f", arguments: { a: 1 } } }],
    },
    { role: "tool", content: "42", tool_call_id: "c1", name: undefined },
  ]);
});

test("openai: bad history arguments and local images without --media-dir are 400s naming the field", () => {
  const withCall = openai.chatSchema.parse({
    model: "m",
    messages: [{ role: "assistant", content: "", tool_calls: [{ function: { name: "f", arguments: "{oops" } }] }],
  });
  assert.throws(() => openai.toMessages(withCall.messages, undefined), (e: unknown) => {
    assert.ok(e instanceof HttpError);
    assert.deepEqual([e.status, e.param], [400, "messages.0.tool_calls.0"]);
    return true;
  });
  const withImage = openai.chatSchema.parse({
    model: "m",
    messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "/etc/passwd" } }] }],
  });
  assert.throws(() => openai.toMessages(withImage.messages, undefined), (e: unknown) => {
    assert.ok(e instanceof HttpError);
    assert.deepEqual([e.status, e.param], [400, "messages.0.content.0"]);
    return true;
  });
});

test("openai: a chat job's constraints and options", () => {
  const job = openai.chatJob(
    openai.chatSchema.parse({
      model: "m",
      messages: [{ role: "user", content: "hi" }],
      tools: [{ type: "function", function: { name: "f" } }],
      tool_choice: { type: "function", function: { name: "f" } },
      parallel_tool_calls: false,
      response_format: { type: "json_schema", json_schema: { schema: { type: "object" } } },
      chat_template_kwargs: { enable_thinking: true },
      mm_processor_kwargs: { downsample_mode: "4x", max_slice_nums: 4, max_num_frames: 32, stack_frames: 2 },
      max_tokens: 5,
      max_completion_tokens: 7,
      seed: -1,
      stop: "END",
      logprobs: true,
      temperature: null,
    }),
    undefined,
    signal,
  );
  assert.deepEqual(job.toolChoice, { name: "f" });
  assert.equal(job.thinking, true);
  assert.equal(job.parallelToolCalls, false);
  assert.deepEqual(job.json, { schema: { type: "object" } });
  assert.equal(job.signal, signal);
  assert.deepEqual(job.options, {
    maxTokens: 7, // max_completion_tokens wins
    temperature: undefined,
    topP: undefined,
    topK: undefined,
    minP: undefined,
    seed: 4294967295, // as unsigned 32 bits
    stop: ["END"],
    presencePenalty: undefined,
    frequencyPenalty: undefined,
    repeatPenalty: undefined,
    ignoreEos: undefined,
    cachePrompt: undefined,
    logprobs: 0, // top_logprobs absent
    downsampleMode: "4x",
    maxSliceNums: 4,
    maxNumFrames: 32,
    stackFrames: 2,
    useImageId: undefined,
    templateKwargs: { enable_thinking: true },
  });
  const job2 = (extra: Record<string, unknown>) => {
    const b = openai.chatSchema.parse({ model: "m", messages: [{ role: "user", content: "x" }], ...extra });
    return openai.chatJob(b, undefined, signal);
  };
  assert.equal(job2({ cache_prompt: false }).options.cachePrompt, false); // llama-server's opt-out
  const plain = job2({});
  assert.deepEqual(
    [plain.toolChoice, plain.thinking, plain.json, plain.options.logprobs],
    ["auto", false, undefined, undefined],
  );
  const obj = job2({ response_format: { type: "json_object" }, tool_choice: "none" });
  assert.deepEqual([obj.json, obj.toolChoice], [{}, "none"]);
});

test("openai completions: prompt forms and default max_tokens 16", () => {
  assert.equal(openai.completionPrompt("once"), "once");
  assert.equal(openai.completionPrompt(["only"]), "only");
  assert.deepEqual(openai.completionPrompt([1, 2, 3]), Int32Array.from([1, 2, 3]));
  const b = openai.completionSchema.parse({ model: "m", prompt: "x", logprobs: 2 });
  const o = openai.completionOptions(b, signal);
  assert.deepEqual([o.maxTokens, o.logprobs, o.signal], [16, 2, signal]);
  assert.equal(openai.completionOptions({ ...b, max_tokens: 0 }, signal).maxTokens, 0);
  assert.equal(openai.completionSchema.safeParse({ model: "m", prompt: ["a", "b"] }).success, false);
});

test("ollama: messages with base64 images, thinking, tool calls and tool results", () => {
  const b = ollama.chatSchema.parse({
    model: "m",
    messages: [
      { role: "user", content: "what?", images: ["AAAA\nBBBB"] },
      { role: "assistant", thinking: "t", tool_calls: [{ function: { name: "f", arguments: { a: 1 } } }] },
      { role: "tool", content: "42", tool_name: "f" },
    ],
  });
  assert.equal(b.stream, true, "Ollama streams by default");
  assert.deepEqual(ollama.toMessages(b.messages), [
    {
      role: "user",
      content: [
        { type: "image", image: "data:application/octet-stream;base64,AAAABBBB" },
        { type: "text", text: "what?" },
      ],
    },
    {
      role: "assistant",
      content: "",
      reasoning_content: "t",
      tool_calls: [{ type: "function", function: { name: "f", arguments: { a: 1 } } }],
    },
    { role: "tool", content: "42", name: "f" },
  ]);
  const notBase64 = { model: "m", messages: [{ role: "user", images: ["not base64!"] }] };
  assert.equal(ollama.chatSchema.safeParse(notBase64).success, false);
});

test("ollama: tool_choice, format and options", () => {
  assert.deepEqual(["auto", "none", "required", undefined, "get_weather"].map(ollama.toolChoice), [
    "auto",
    "none",
    "required",
    "auto",
    { name: "get_weather" },
  ]);
  assert.deepEqual(ollama.jsonConstraint("json"), { param: "format" });
  assert.deepEqual(ollama.jsonConstraint({ type: "object" }), { schema: { type: "object" }, param: "format" });
  assert.equal(ollama.jsonConstraint(""), undefined);
  assert.equal(ollama.jsonConstraint(undefined), undefined);
  const o = ollama.chatOptions({ num_predict: -1, seed: -2, top_k: 5, downsample_mode: "4x", mirostat: 1 });
  assert.deepEqual([o.maxTokens, o.seed, o.topK, o.downsampleMode], [undefined, 4294967294, 5, "4x"]);
  assert.equal(ollama.chatOptions({ num_predict: 0 }).maxTokens, 0);
  assert.equal(ollama.chatOptions(undefined).temperature, undefined);
});

test("ollama: /api/chat and templated /api/generate as chat jobs", () => {
  const chat = ollama.chatJob(
    ollama.chatSchema.parse({ model: "m", messages: [], think: "high", format: "json", tool_choice: "f" }),
    signal,
  );
  assert.deepEqual(
    [chat.thinking, chat.json, chat.toolChoice, chat.tools],
    [true, { param: "format" }, { name: "f" }, undefined],
  );
  const body = { model: "m", prompt: "p", system: "s", images: ["QQ=="] };
  const gen = ollama.generateJob(ollama.generateSchema.parse(body), signal);
  assert.deepEqual(gen.messages, [
    { role: "system", content: "s" },
    {
      role: "user",
      content: [{ type: "image", image: "data:application/octet-stream;base64,QQ==" }, { type: "text", text: "p" }],
    },
  ]);
  assert.equal(gen.thinking, false);
  const bare = ollama.generateJob(ollama.generateSchema.parse({ model: "m", prompt: "p" }), signal);
  assert.deepEqual(bare.messages, [{ role: "user", content: "p" }]);
});
