/** The composed assistant output parser: reasoning -> tool calls -> newline repair. */

import assert from "node:assert/strict";
import { test } from "node:test";
import {
  type AssistantOutputOptions,
  AssistantOutputParser,
  type OutputEvent,
  parseAssistantOutput,
} from "../../engine/ts/chat/output.ts";
import type { ToolDef } from "../../engine/ts/chat/tool-calls.ts";
import { cuttings } from "./stream-splits.ts";

const B = "\\";
const TOOLS: ToolDef[] = [{
  type: "function",
  function: {
    name: "search",
    parameters: { type: "object", properties: { q: { type: "string" }, n: { type: "integer" } }, required: ["q"] },
  },
}];
const ids = () => {
  let n = 0;
  return () => `call_${n++}`;
};
const CALL =
  `<tool_call>\n<function=search>\n<parameter=q>\nA${B}nB\n</parameter>\n<parameter=n>\n3\n</parameter>\n</function>\n</tool_call>`;

const cases: [string, Omit<AssistantOutputOptions, "newId">, unknown][] = [
  [`Think${B}nmore\n</think>\n\nI will search.${B}n\n${CALL}`, { thinking: true, tools: TOOLS, repairNewlines: true }, {
    reasoning_content: "Think\nmore",
    content: "I will search.\n",
    // never repaired inside arguments: the model's backslash-n stays as written
    tool_calls: [{
      id: "call_0",
      type: "function",
      function: { name: "search", arguments: `{"q":"A${B}${B}nB","n":3}` },
    }],
  }],
  // reasoning that runs straight into the call
  [`Need data${B}\n${CALL}`, { thinking: true, tools: TOOLS, repairNewlines: true }, {
    reasoning_content: `Need data${B}`,
    content: "",
    tool_calls: [{
      id: "call_0",
      type: "function",
      function: { name: "search", arguments: `{"q":"A${B}${B}nB","n":3}` },
    }],
  }],
  [`Line 1${B}nLine 2 \`a${B}nb\``, { thinking: false, repairNewlines: true }, {
    reasoning_content: "",
    content: `Line 1\nLine 2 \`a${B}nb\``,
    tool_calls: [],
  }],
  [`Line 1${B}nLine 2`, { thinking: false, repairNewlines: false }, {
    reasoning_content: "",
    content: `Line 1${B}nLine 2`,
    tool_calls: [],
  }],
  // without tools a call is plain content
  [CALL, { thinking: false, repairNewlines: false }, { reasoning_content: "", content: CALL, tool_calls: [] }],
  // thinking on, no closing tag (cut off): everything is reasoning
  [`hmm${B}n...`, { thinking: true, tools: TOOLS, repairNewlines: true }, {
    reasoning_content: "hmm\n...",
    content: "",
    tool_calls: [],
  }],
];

test("assistant output: whole text", () => {
  for (const [text, options, want] of cases) {
    assert.deepEqual(parseAssistantOutput(text, { ...options, newId: ids() }), want, JSON.stringify(text));
  }
});

test("assistant output: every cutting gives the same message and well-ordered events", () => {
  for (const [text, options, want] of cases) {
    for (const pieces of cuttings(text)) {
      const p = new AssistantOutputParser({ ...options, newId: ids() });
      const events: OutputEvent[] = [];
      for (const piece of pieces) events.push(...p.push(piece));
      events.push(...p.end());
      assert.deepEqual(p.message, want, JSON.stringify(pieces));
      // the deltas alone rebuild the message
      const fromEvents = { reasoning: "", content: "" };
      for (const e of events) if (e.type === "reasoning" || e.type === "content") fromEvents[e.type] += e.text;
      assert.deepEqual(fromEvents, { reasoning: p.message.reasoning_content, content: p.message.content });
      // reasoning first, then content, calls after the content before them
      const firstOther = events.findIndex((e) => e.type !== "reasoning");
      if (firstOther >= 0) {
        assert.ok(events.slice(firstOther).every((e) => e.type !== "reasoning"), JSON.stringify(pieces));
      }
      const firstCall = events.findIndex((e) => e.type === "tool_call_start");
      if (firstCall >= 0) assert.ok(events.slice(firstCall).every((e) => e.type !== "content"), JSON.stringify(pieces));
    }
  }
});
