/**
 * The tool-call grammar: its shape, and end to end through the WASM engine: the tiny model,
 * prompted with the tools by its own chat template and sampled greedily under the grammar,
 * writes output that our parser reads as a call to the forced function (so llama.cpp accepts
 * the grammar and it really forces the format).
 */

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type Context, Engine, generate, Model } from "../mod.ts";
import { renderChat } from "../engine/ts/chat/template.ts";
import { parseAssistantOutput } from "../engine/ts/chat/output.ts";
import type { ToolDef } from "../engine/ts/chat/tool-calls.ts";
import { toolCallGrammar } from "../engine/ts/chat/tool-grammar.ts";
import { models } from "./helpers.ts";

const TOOLS: ToolDef[] = [
  {
    type: "function",
    function: {
      name: "get_weather",
      description: "Weather forecast",
      parameters: {
        type: "object",
        properties: {
          unit: { type: "string", enum: ["celsius", "fahrenheit"] },
          days: { type: "integer" },
          hourly: { type: "boolean" },
        },
        required: ["unit", "days"],
      },
    },
  },
  {
    type: "function",
    function: { name: "get_time", parameters: { type: "object", properties: { utc: { type: "boolean" } } } },
  },
];

test("grammar: rules for each function, required parameters in any order, typed values", () => {
  const g = toolCallGrammar(TOOLS, { parallel: false });
  const rules = new Map(g.trim().split("\n").map((l) => l.split(" ::= ") as [string, string]));
  assert.equal(rules.get("root"), "tool-call");
  assert.equal(rules.get("tool-call"), `"<tool_call>\\n" (fn0 | fn1) "</tool_call>" space`);
  assert.equal(rules.get("fn0"), `"<function=get_weather>\\n" fn0-req-3 (fn0-arg2)* "</function>\\n"`);
  assert.equal(rules.get("fn0-req-3"), "fn0-arg0 fn0-req-2 | fn0-arg1 fn0-req-1");
  assert.equal(rules.get("fn0-arg0"), `"<parameter=unit>\\n" ("celsius" | "fahrenheit") "\\n</parameter>\\n"`);
  assert.equal(rules.get("fn0-arg1"), `"<parameter=days>\\n" (integer) "\\n</parameter>\\n"`);
  assert.equal(rules.get("fn1"), `"<function=get_time>\\n" (fn1-arg0)* "</function>\\n"`);
  assert.equal(toolCallGrammar(TOOLS).split("\n")[0], "root ::= tool-call tool-call*");
  assert.match(toolCallGrammar(TOOLS, { allowContent: true }), /^root ::= content tool-call tool-call\*$/m);
  // string values: anything up to the terminator (the same automaton llama.cpp generates)
  const s = toolCallGrammar([{ function: { name: "f", parameters: { properties: { q: { type: "string" } } } } }]);
  assert.match(s, /^xml-arg-string-13 ::= \[\\n\] \| \[\^\\n\] xml-arg-string$/m);
  assert.throws(() => toolCallGrammar([]));
});

let engine: Engine;
let model: Model;
let ctx: Context;

before(async () => {
  engine = await Engine.create({ threads: 2, logLevel: "error" });
  model = await Model.load(engine, models().llm);
  ctx = await model.createContext({ contextSize: 2048, batchSize: 256 });
});
after(() => engine.terminate());

async function forced(tools: ToolDef[], forcedName: string, thinking: boolean) {
  const prompt = renderChat(model.info.chatTemplate!, [{ role: "user", content: "Weather in Paris for 3 days?" }], {
    tools,
    enableThinking: false,
  });
  const grammar = toolCallGrammar(tools.filter((t) => t.function.name === forcedName), { parallel: false });
  const r = await generate(ctx, await model.tokenize(prompt), { temperature: 0, maxTokens: 200, grammar }).result;
  return { r, message: parseAssistantOutput(r.text, { thinking, tools, repairNewlines: true }) };
}

test("end to end: the grammar forces a call to the named function (greedy, tiny model)", async () => {
  for (const name of ["get_weather", "get_time"]) {
    const { r, message } = await forced(TOOLS, name, false);
    assert.equal(r.finishReason, "stop", r.text); // the grammar ended, then only end-of-generation was allowed
    assert.equal(message.content, "", r.text);
    assert.equal(message.tool_calls.length, 1, r.text);
    const call = message.tool_calls[0];
    assert.equal(call.function.name, name);
    const args = JSON.parse(call.function.arguments);
    if (name === "get_weather") {
      assert.ok(["celsius", "fahrenheit"].includes(args.unit), r.text);
      assert.ok(Number.isInteger(args.days), r.text);
      assert.ok(!("hourly" in args) || typeof args.hourly === "boolean", r.text);
    } else {
      assert.ok(Object.keys(args).every((k) => k === "utc" && typeof args[k] === "boolean"), r.text);
    }
  }
});

test("end to end: without the grammar the tiny model does not write a call", async () => {
  const prompt = renderChat(model.info.chatTemplate!, [{ role: "user", content: "Weather in Paris for 3 days?" }], {
    tools: TOOLS,
    enableThinking: false,
  });
  const r = await generate(ctx, await model.tokenize(prompt), { temperature: 0, maxTokens: 40 }).result;
  assert.equal(
    parseAssistantOutput(r.text, { thinking: false, tools: TOOLS, repairNewlines: true }).tool_calls.length,
    0,
  );
});
