/**
 * Chat template rendering of tools, tool calls, tool results and reasoning
 * (docs/chat-format.md, "Chat template" (c)-(e)) with the test models' template (Qwen3.5's, as 4.6 uses).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { type ChatMessage, renderChat } from "../../engine/ts/chat/template.ts";
import { CHAT_TEMPLATE } from "../../engine/ts/tiny-model/chat-template.ts";
import { InvalidRequestError } from "../../engine/ts/errors.ts";

const render = (messages: ChatMessage[], o: Parameters<typeof renderChat>[2] = {}) =>
  renderChat(CHAT_TEMPLATE, messages, o);
const GEN_OFF = "<|im_start|>assistant\n<think>\n\n</think>\n\n";
const WEATHER = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Météo <now>",
    parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
  },
};

test("(c) tools: one JSON line per tool (', ' and ': ', non-ASCII kept), the fixed block, then the system text", () => {
  const s = render([{ role: "system", content: " Be brief. " }, { role: "user", content: "Weather in Paris?" }], {
    tools: [WEATHER],
  });
  const head = "<|im_start|>system\n# Tools\n\nYou have access to the following functions:\n\n<tools>\n" +
    '{"type": "function", "function": {"name": "get_weather", "description": "Météo <now>", "parameters": ' +
    '{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}\n</tools>\n\n' +
    "If you choose to call a function ONLY reply in the following format with NO suffix:\n\n<tool_call>\n<function=example_function_name>\n";
  assert.ok(s.startsWith(head), s);
  assert.ok(
    s.endsWith("</IMPORTANT>\n\nBe brief.<|im_end|>\n<|im_start|>user\nWeather in Paris?<|im_end|>\n" + GEN_OFF),
    s,
  );
  // without a system message the block ends the system turn
  assert.ok(
    render([{ role: "user", content: "x" }], { tools: [WEATHER] }).includes(
      "</IMPORTANT><|im_end|>\n<|im_start|>user\nx",
    ),
  );
});

test("(d) an assistant tool call (arguments as the OpenAI JSON string) and its result", () => {
  const s = render([
    { role: "user", content: "Weather in Paris?" },
    {
      role: "assistant",
      content: null,
      tool_calls: [{
        id: "c1",
        type: "function",
        function: { name: "get_weather", arguments: '{"city": "Paris", "days": 2}' },
      }],
    },
    { role: "tool", tool_call_id: "c1", content: '{"temp_c": 18}' },
  ]);
  assert.equal(
    s,
    "<|im_start|>user\nWeather in Paris?<|im_end|>\n" +
      "<|im_start|>assistant\n<think>\n\n</think>\n\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n" +
      "<parameter=days>\n2\n</parameter>\n</function>\n</tool_call><|im_end|>\n" +
      '<|im_start|>user\n<tool_response>\n{"temp_c": 18}\n</tool_response><|im_end|>\n' + GEN_OFF,
  );
});

test("(d) content before calls, parallel calls, merged tool results, object values as JSON", () => {
  const s = render([
    { role: "user", content: "Compare" },
    {
      role: "assistant",
      content: "Checking both.",
      tool_calls: [
        { type: "function", function: { name: "a", arguments: { o: { k: [1, "x"] } } } },
        { type: "function", function: { name: "b", arguments: {} } },
      ],
    },
    { role: "tool", content: "A" },
    { role: "tool", content: "B" },
  ]);
  assert.ok(
    s.includes(
      "<|im_start|>assistant\n<think>\n\n</think>\n\nChecking both.\n\n<tool_call>\n<function=a>\n<parameter=o>\n" +
        '{"k": [1, "x"]}\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=b>\n</function>\n</tool_call><|im_end|>\n' +
        "<|im_start|>user\n<tool_response>\nA\n</tool_response>\n<tool_response>\nB\n</tool_response><|im_end|>\n" +
        GEN_OFF,
    ),
    s,
  );
});

test("booleans render as Python Jinja writes them ('True'/'False'), nested ones as JSON ('true'), as vLLM does", () => {
  const s = render([
    { role: "user", content: "q" },
    {
      role: "assistant",
      content: "",
      tool_calls: [{
        type: "function",
        function: { name: "f", arguments: '{"on": true, "off": false, "opts": {"deep": true}, "list": [false]}' },
      }],
    },
  ]);
  assert.ok(s.includes("<parameter=on>\nTrue\n</parameter>"), s);
  assert.ok(s.includes("<parameter=off>\nFalse\n</parameter>"), s);
  assert.ok(s.includes('<parameter=opts>\n{"deep": true}\n</parameter>'), s);
  assert.ok(s.includes("<parameter=list>\n[false]\n</parameter>"), s);
  // printing a boolean and the string filter, the two ways a template turns one into text
  assert.equal(
    renderChat("{{ flag }} {{ flag|string }} {{ flag|tojson }}", [], { extra: { flag: false } }),
    "False False false",
  );
});

test("tool call arguments that are not JSON are a bad request", () => {
  assert.throws(
    () =>
      render([{ role: "user", content: "q" }, {
        role: "assistant",
        content: "",
        tool_calls: [{ type: "function", function: { name: "f", arguments: "{oops" } }],
      }]),
    InvalidRequestError,
  );
});

test("(b)(d) reasoning: kept after the last user query, dropped before it; from reasoning_content or <think> in content", () => {
  const s = render([
    { role: "user", content: "First?" },
    { role: "assistant", content: "One.", reasoning_content: "old thoughts" },
    { role: "user", content: "Second?" },
    {
      role: "assistant",
      content: "",
      reasoning_content: " new thoughts ",
      tool_calls: [{ type: "function", function: { name: "f", arguments: "{}" } }],
    },
    { role: "tool", content: "R" },
    { role: "assistant", content: "<think>\nmore\n</think>\n\nDone." },
  ], { addGenerationPrompt: false });
  assert.equal(
    s,
    "<|im_start|>user\nFirst?<|im_end|>\n<|im_start|>assistant\nOne.<|im_end|>\n<|im_start|>user\nSecond?<|im_end|>\n" +
      "<|im_start|>assistant\n<think>\nnew thoughts\n</think>\n\n<tool_call>\n<function=f>\n</function>\n</tool_call><|im_end|>\n" +
      "<|im_start|>user\n<tool_response>\nR\n</tool_response><|im_end|>\n" +
      "<|im_start|>assistant\n<think>\nmore\n</think>\n\nDone.<|im_end|>\n",
  );
});

test("(e) thinking on leaves the block open for the model", () => {
  assert.ok(
    render([{ role: "user", content: "q" }], { enableThinking: true }).endsWith("<|im_start|>assistant\n<think>\n"),
  );
  assert.ok(render([{ role: "user", content: "q" }]).endsWith(GEN_OFF));
});
