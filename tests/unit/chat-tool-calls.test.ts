/**
 * Qwen3-Coder XML tool calls (docs/chat-format.md, "Output"): whole-text results (several checked
 * against llama.cpp's own parser at the pinned commit, noted per case), typing by schema, our
 * documented deviations, and streaming: every cutting gives the same calls and content.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { argType, argumentJson, pythonToJson, valueKinds } from "../../engine/ts/chat/arg-types.ts";
import {
  parseToolCalls,
  ToolCallCollector,
  type ToolCallEvent,
  ToolCallParser,
  type ToolDef,
} from "../../engine/ts/chat/tool-calls.ts";
import { cuttings, prng, randomText } from "./stream-splits.ts";

const TOOLS: ToolDef[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      parameters: {
        type: "object",
        properties: {
          city: { type: "string" },
          days: { type: "integer" },
          units: { type: ["string", "null"] },
          opts: { type: "object" },
          any: {},
        },
        required: ["city", "days"],
      },
    },
  },
  { type: "function", function: { name: "noargs", parameters: { type: "object", properties: {} } } },
];

const ids = () => {
  let n = 0;
  return () => `call_${n++}`;
};
const parse = (text: string) => parseToolCalls(text, TOOLS, { newId: ids() });
const call = (id: string, name: string, args: string) => ({
  id,
  type: "function",
  function: { name, arguments: args },
});
const N = "\n";
const weather = (city: string, days: string) =>
  `<tool_call>${N}<function=get_weather>${N}<parameter=city>${N}${city}${N}</parameter>${N}` +
  `<parameter=days>${N}${days}${N}</parameter>${N}</function>${N}</tool_call>`;

const cases: [string, { content: string; toolCalls: unknown[] }][] = [
  // llama.cpp: same call; its content keeps the "\n\n" before the call and drops "trailing"
  ["Let me check.\n\n" + weather("Paris", "2") + "\ntrailing", {
    content: "Let me check.trailing",
    toolCalls: [call("call_0", "get_weather", '{"city":"Paris","days":2}')],
  }],
  // llama.cpp: identical arguments (raw JSON kept, escapes in strings, null for the mixed type)
  [
    '<tool_call>\n<function=get_weather>\n<parameter=days>\n2\n</parameter>\n<parameter=city>\nNew\\nYork "x"\n</parameter>\n' +
    '<parameter=units>\nnull\n</parameter>\n<parameter=opts>\n{"a": [1, true]}\n</parameter>\n</function>\n</tool_call>',
    {
      content: "",
      toolCalls: [
        call("call_0", "get_weather", '{"days":2,"city":"New\\\\nYork \\"x\\"","units":null,"opts":{"a": [1, true]}}'),
      ],
    },
  ],
  // llama.cpp: identical (parallel calls, a call without arguments)
  [weather("Paris", "2") + "\n<tool_call>\n<function=noargs>\n</function>\n</tool_call>", {
    content: "",
    toolCalls: [call("call_0", "get_weather", '{"city":"Paris","days":2}'), call("call_1", "noargs", "{}")],
  }],
  // llama.cpp: identical (an empty string value)
  ["<tool_call>\n<function=get_weather>\n<parameter=units>\n\n</parameter>\n</function>\n</tool_call>", {
    content: "",
    toolCalls: [call("call_0", "get_weather", '{"units":""}')],
  }],
  // llama.cpp: identical ("2" quoted stays a JSON string for an integer parameter)
  [weather("X", '"2"'), { content: "", toolCalls: [call("call_0", "get_weather", '{"city":"X","days":"2"}')] }],
  // unknown function: llama.cpp drops it and everything after ("hi "); we keep the text
  ["hi <tool_call>\n<function=unknown>\n</function>\n</tool_call> after", {
    content: "hi <tool_call>\n<function=unknown>\n</function>\n</tool_call> after",
    toolCalls: [],
  }],
  // not a call at all
  ["use <tool_call> tags", { content: "use <tool_call> tags", toolCalls: [] }],
  // unknown parameter: kept as a string (llama.cpp drops the call)
  ["<tool_call>\n<function=noargs>\n<parameter=x>\n5\n</parameter>\n</function>\n</tool_call>", {
    content: "",
    toolCalls: [call("call_0", "noargs", '{"x":"5"}')],
  }],
  // cut off inside a string value: closed into valid JSON (llama.cpp leaves {"city":"Par)
  ["<tool_call>\n<function=get_weather>\n<parameter=city>\nPar", {
    content: "",
    toolCalls: [call("call_0", "get_weather", '{"city":"Par"}')],
  }],
  ["<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</param", {
    content: "",
    toolCalls: [call("call_0", "get_weather", '{"city":"Paris"}')],
  }],
  ["<tool_call>\n<function=get_weather>\n<parameter=days>\n12", {
    content: "",
    toolCalls: [call("call_0", "get_weather", '{"days":12}')],
  }],
  // cut off before the name is complete: the text is content
  ["Sure <tool_call>\n<function=get_wea", { content: "Sure <tool_call>\n<function=get_wea", toolCalls: [] }],
  ["Answer <tool_", { content: "Answer <tool_", toolCalls: [] }],
  // leniency: no newlines around values, "</function>" missing, multi-line values
  ["<tool_call><function=get_weather><parameter=city>Lyon</parameter></tool_call>", {
    content: "",
    toolCalls: [call("call_0", "get_weather", '{"city":"Lyon"}')],
  }],
  [
    "<tool_call>\n<function=get_weather>\n<parameter=city>\nline 1\n\nline 3\n\n</parameter>\n</function>\n</tool_call>",
    {
      content: "",
      toolCalls: [call("call_0", "get_weather", '{"city":"line 1\\n\\nline 3\\n"}')],
    },
  ],
  // Python literals for a non-string parameter, text for "any" that is not JSON
  [
    "<tool_call>\n<function=get_weather>\n<parameter=opts>\n{'a': True, 'b': None}\n</parameter>\n<parameter=any>\nhello\n</parameter>\n</function>\n</tool_call>",
    {
      content: "",
      toolCalls: [call("call_0", "get_weather", '{"opts":{"a": true, "b": null},"any":"hello"}')],
    },
  ],
  // unicode and a surrogate pair in a streamed string value
  ["<tool_call>\n<function=get_weather>\n<parameter=city>\nZürich 🌧\n</parameter>\n</function>\n</tool_call>", {
    content: "",
    toolCalls: [call("call_0", "get_weather", '{"city":"Zürich 🌧"}')],
  }],
];

test("tool calls: whole-text parse", () => {
  for (const [text, want] of cases) assert.deepEqual(parse(text), want, JSON.stringify(text));
});

test("tool calls: the arguments are valid JSON", () => {
  for (const [text] of cases) for (const c of parse(text).toolCalls) JSON.parse(c.function.arguments);
});

function streamed(pieces: string[]) {
  const p = new ToolCallParser(TOOLS, { newId: ids() });
  const events: ToolCallEvent[] = [];
  for (const piece of pieces) events.push(...p.push(piece));
  const endEvents = p.end();
  events.push(...endEvents);
  const c = new ToolCallCollector();
  c.add(events);
  return { result: { content: c.content, toolCalls: c.toolCalls }, events, endEvents };
}

test("tool calls: every cutting gives the whole-text result", () => {
  for (const [text, want] of cases) {
    for (const pieces of cuttings(text)) {
      const { result, events, endEvents } = streamed(pieces);
      assert.deepEqual(result, want, JSON.stringify(pieces));
      // events come in order: start, then args, then end, for increasing indices
      let open = -1;
      let last = -1;
      for (const e of events) {
        if (e.type === "tool_call_start") [open, last] = [e.index, (assert.equal(e.index, last + 1), e.index)];
        if (e.type === "tool_call_args") assert.equal(e.index, open);
        if (e.type === "tool_call_end") [assert.equal(e.index, open), open = -1];
      }
      // before the end of the stream, no piece of markup leaks into the content
      if (want.toolCalls.length && !want.content.includes("<")) {
        for (const e of events) {
          if (e.type === "content" && !endEvents.includes(e)) assert.ok(!e.text.includes("<"), JSON.stringify(e));
        }
      }
    }
  }
});

test("tool calls: streaming == whole on random marker soup", () => {
  const rand = prng(11);
  const alphabet = [
    "<tool_call>",
    "</tool_call>",
    "<function=get_weather>",
    "<function=nope>",
    "<parameter=city>",
    "<parameter=days>",
    "</parameter>",
    "</function>",
    "<",
    ">",
    "\n",
    " ",
    "x",
    "7",
    "{",
    "'",
  ];
  for (let n = 0; n < 300; n++) {
    const text = randomText(rand, alphabet, 16);
    const whole = parse(text);
    for (const c of whole.toolCalls) JSON.parse(c.function.arguments);
    for (const pieces of cuttings(text, n)) assert.deepEqual(streamed(pieces).result, whole, JSON.stringify(pieces));
  }
});

test("tool calls: events stream string values and the call header early", () => {
  const p = new ToolCallParser(TOOLS, { newId: () => "id1" });
  assert.deepEqual(p.push("Checking.\n\n<tool_call>\n<function=get_weather>\n<parameter=city>\nPa"), [
    { type: "content", text: "Checking." },
    { type: "tool_call_start", index: 0, id: "id1", name: "get_weather" },
    { type: "tool_call_args", index: 0, text: "{" },
    { type: "tool_call_args", index: 0, text: '"city":' },
    { type: "tool_call_args", index: 0, text: '"' },
    { type: "tool_call_args", index: 0, text: "Pa" },
  ]);
  assert.deepEqual(p.push("ris\n</para"), [{ type: "tool_call_args", index: 0, text: "ris" }]);
  assert.deepEqual(p.push("meter>\n</function>\n</tool_call>"), [
    { type: "tool_call_args", index: 0, text: '"' },
    { type: "tool_call_args", index: 0, text: "}" },
    { type: "tool_call_end", index: 0 },
  ]);
  assert.deepEqual(p.end(), []);
});

test("argument typing by schema (llama.cpp value_types)", () => {
  const j = (raw: string, schema: unknown) => argumentJson(raw, argType(schema));
  assert.equal(j('a "q"\nb', { type: "string" }), '"a \\"q\\"\\nb"');
  assert.equal(j(" 42 ", { type: "integer" }), "42");
  assert.equal(j("12345678901234567890", { type: "integer" }), "12345678901234567890"); // no precision loss
  assert.equal(j("True", { type: "boolean" }), "true");
  assert.equal(j("None", { type: "null" }), "null");
  assert.equal(j("[1, 'a']", { type: "array" }), '[1, "a"]');
  assert.equal(j("not json", { type: "number" }), '"not json"'); // never lost
  assert.equal(j("null", { type: ["string", "null"] }), "null");
  assert.equal(j("None", { type: ["string", "null"] }), '"None"'); // mixed: strict JSON only
  assert.equal(j("3", { type: ["integer", "string"] }), "3");
  assert.equal(j("3.5", { type: ["integer", "string"] }), "3.5"); // json-number for integer too
  assert.equal(j("[3]", { type: ["integer", "string"] }), '"[3]"'); // not an allowed kind
  assert.equal(j('"x"', {}), '"\\"x\\""'); // "any": a JSON string is not tried
  assert.equal(j('{"a":1}', {}), '{"a":1}');
  assert.equal(j("x", { enum: ["a", "b"] }), '"x"');
  assert.equal(j("2", { enum: [1, 2] }), "2");
  assert.equal(j("2", { anyOf: [{ type: "integer" }, { type: "null" }] }), "2");
  const root = { $defs: { n: { type: "integer" } }, properties: { a: { $ref: "#/$defs/n" } } };
  assert.equal(argumentJson("7", argType(root.properties.a, root)), "7");
  assert.deepEqual([...valueKinds({ type: "number" })].sort(), ["integer", "number"]);
  assert.deepEqual([...valueKinds({ properties: {} })], ["object"]);
  assert.deepEqual([...valueKinds({ allOf: [{ type: ["string", "null"] }, { type: "null" }] })], ["null"]);
});

test("Python literals to JSON (llama.cpp normalize_quotes_to_json)", () => {
  assert.equal(pythonToJson("{'key': 'value'}"), '{"key": "value"}');
  assert.equal(pythonToJson("{'code': 'print(\\'hello\\')'}"), '{"code": "print(\'hello\')"}');
  assert.equal(pythonToJson("{'msg': 'He said \"hi\"'}"), '{"msg": "He said \\"hi\\""}');
  assert.equal(pythonToJson("[True, False, None, Nonesuch, 'True']"), '[true, false, null, Nonesuch, "True"]');
});
