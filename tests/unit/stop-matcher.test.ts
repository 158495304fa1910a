/** Stop strings: text that could begin a stop string is held back; a completed one ends the output before it. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { StopMatcher } from "../../engine/ts/generation.ts";

test("without stop strings every piece passes through at once", () => {
  const m = new StopMatcher([]);
  assert.deepEqual(m.push("hello "), ["hello ", false]);
  assert.deepEqual(m.push("world"), ["world", false]);
  assert.equal(m.flush(), "");
});

test("a stop string inside one piece cuts the text before it", () => {
  const m = new StopMatcher(["END"]);
  assert.deepEqual(m.push("the answer END and more"), ["the answer ", true]);
});

test("a stop string split over pieces: its prefix is held back until it completes", () => {
  const m = new StopMatcher(["END"]);
  assert.deepEqual(m.push("one E"), ["one ", false]);
  assert.deepEqual(m.push("N"), ["", false]);
  assert.deepEqual(m.push("D two"), ["", true]);
});

test("a held-back prefix that does not complete is released", () => {
  const m = new StopMatcher(["END"]);
  assert.deepEqual(m.push("EN"), ["", false]);
  assert.deepEqual(m.push("Ex"), ["ENEx", false]);
  assert.deepEqual(m.push("abcE"), ["abc", false]);
  assert.equal(m.flush(), "E", "the end of generation releases what was held");
  assert.equal(m.flush(), "", "and only once");
});

test("the longest prefix over all stop strings is held back", () => {
  const m = new StopMatcher(["<|im_end|>", "\n\n"]);
  assert.deepEqual(m.push("text\n<|im"), ["text\n", false]);
  assert.deepEqual(m.push("_en"), ["", false]);
  assert.deepEqual(m.push("d|>"), ["", true]);
  const n = new StopMatcher(["ab", "abcd"]);
  assert.deepEqual(n.push("xabc"), ["x", true], "'ab' completes first");
});

test("a stop string at the very start gives no text", () => {
  const m = new StopMatcher(["\n"]);
  assert.deepEqual(m.push("\nrest"), ["", true]);
});

test("multi-byte text: held back and released by UTF-16 units, never split inside a stop string", () => {
  const m = new StopMatcher(["«fin»"]);
  assert.deepEqual(m.push("été «"), ["été ", false]);
  assert.deepEqual(m.push("fi"), ["", false]);
  assert.deepEqual(m.push("n» après"), ["", true]);
});

test("two stop strings completing in one piece: the cut is at the earliest in the text, not the first listed", () => {
  const m = new StopMatcher(["END", "\n"]);
  assert.deepEqual(m.push("one\ntwo END"), ["one", true]);
  const n = new StopMatcher(["xyz", "b"]);
  assert.deepEqual(n.push("a"), ["a", false]);
  assert.deepEqual(n.push("bxyz"), ["", true], "'b' starts before 'xyz'");
  const o = new StopMatcher(["cd", "abcd"]);
  assert.deepEqual(o.push("xxab"), ["xx", false]);
  assert.deepEqual(o.push("cd"), ["", true], "'abcd' starts before 'cd'");
});

test("an empty stop string is ignored instead of ending the output before any text", () => {
  const m = new StopMatcher(["", "END"]);
  assert.deepEqual(m.push("hello"), ["hello", false]);
  assert.deepEqual(m.push(" END"), [" ", true]);
  const only = new StopMatcher([""]);
  assert.deepEqual(only.push("text"), ["text", false]);
});
