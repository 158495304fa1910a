/** Reasoning/content split at </think> (and at <tool_call>), whole text and streamed. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { type ReasoningEvent, ReasoningSplitter, splitReasoning } from "../../engine/ts/chat/reasoning.ts";
import { cuttings, prng, randomText } from "./stream-splits.ts";

function streamed(pieces: string[], thinking: boolean) {
  const s = new ReasoningSplitter(thinking);
  const events: ReasoningEvent[] = [];
  for (const p of pieces) events.push(...s.push(p));
  events.push(...s.end());
  const r = { reasoning: "", content: "" };
  for (const e of events) {
    assert.ok(e.text.length > 0, "no empty events");
    r[e.type] += e.text;
  }
  return { r, events };
}

const on: [string, { reasoning: string; content: string }][] = [
  ["Let me think.\n</think>\n\nThe answer is 4.", { reasoning: "Let me think.", content: "The answer is 4." }],
  ["\nstep 1\nstep 2\n\n</think>\n\nDone\n", { reasoning: "step 1\nstep 2", content: "Done\n" }],
  // the model repeats the opening tag
  ["<think>\nhmm\n</think>\n\nok", { reasoning: "hmm", content: "ok" }],
  // reasoning ends where a tool call starts; the call is content for the tool-call parser
  ["I should call it.\n<tool_call>\n<function=f>\n</function>\n</tool_call>", {
    reasoning: "I should call it.",
    content: "<tool_call>\n<function=f>\n</function>\n</tool_call>",
  }],
  // truncated reasoning: all of it is reasoning, a partial end marker included
  ["still thinking </thi", { reasoning: "still thinking </thi", content: "" }],
  ["</think>\n\nno reasoning", { reasoning: "", content: "no reasoning" }],
  ["a <think> inside stays</think>b", { reasoning: "a <think> inside stays", content: "b" }],
  ["", { reasoning: "", content: "" }],
];

const off: [string, { reasoning: string; content: string }][] = [
  ["\n\nHello", { reasoning: "", content: "Hello" }],
  ["Hello</think> world", { reasoning: "", content: "Hello</think> world" }],
  ["<think>x</think>y", { reasoning: "", content: "<think>x</think>y" }],
];

test("reasoning split: thinking on", () => {
  for (const [text, want] of on) assert.deepEqual(splitReasoning(text, true), want, JSON.stringify(text));
});

test("reasoning split: thinking off, everything is content (leading whitespace dropped)", () => {
  for (const [text, want] of off) assert.deepEqual(splitReasoning(text, false), want, JSON.stringify(text));
});

test("reasoning split: every cutting gives the whole-text result and never a partial marker", () => {
  for (const [text, want] of on) {
    for (const pieces of cuttings(text)) {
      const { r, events } = streamed(pieces, true);
      assert.deepEqual(r, want, JSON.stringify(pieces));
      // a marker is never split between reasoning events and then dropped
      for (const e of events) if (e.type === "reasoning") assert.ok(!e.text.endsWith("</"), JSON.stringify(pieces));
    }
  }
  for (const [text, want] of off) {
    for (const pieces of cuttings(text)) assert.deepEqual(streamed(pieces, false).r, want);
  }
});

test("reasoning split: streaming == whole on random texts", () => {
  const rand = prng(3);
  const alphabet = ["<think>", "</think>", "<tool_call>", "</", "<", "think", ">", "\n", " ", "a"];
  for (let n = 0; n < 300; n++) {
    const text = randomText(rand, alphabet, 12);
    for (const thinking of [true, false]) {
      const whole = splitReasoning(text, thinking);
      for (const pieces of cuttings(text, n)) {
        assert.deepEqual(streamed(pieces, thinking).r, whole, JSON.stringify(pieces));
      }
    }
  }
});

test("reasoning split: reasoning streams before the end marker arrives", () => {
  const s = new ReasoningSplitter(true);
  assert.deepEqual(s.push("First idea. "), [{ type: "reasoning", text: "First idea." }]);
  assert.deepEqual(s.push("Second</th"), [{ type: "reasoning", text: " Second" }]);
  assert.deepEqual(s.push("ink>\n\nAns"), [{ type: "content", text: "Ans" }]);
  assert.deepEqual(s.end(), []);
});
