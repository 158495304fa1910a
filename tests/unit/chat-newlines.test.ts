/** Literal "\n" repair (docs/chat-format.md): the rules, and streaming == whole text. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { NewlineRepair, repairNewlines } from "../../engine/ts/chat/newlines.ts";
import { cuttings, prng, randomText } from "./stream-splits.ts";

const B = "\\"; // one backslash, to keep the cases readable

function streamed(pieces: string[]): string {
  const r = new NewlineRepair();
  return pieces.map((p) => r.push(p)).join("") + r.flush();
}

const cases: [string, string][] = [
  [`a${B}nb`, "a\nb"],
  [`a${B}r${B}nb`, "a\nb"],
  [`a${B}rb`, "a\nb"],
  [`a${B}r${B}b`, `a\n${B}b`],
  [`a${B}${B}nb`, `a${B}${B}nb`], // escaped backslash stays
  [`a${B}${B}${B}nb`, `a${B}${B}${B}nb`], // a run of three too
  [`tab${B}tx`, `tab${B}tx`], // other escapes untouched
  ["`x" + B + "ny` and " + B + "n", "`x" + B + "ny` and \n"],
  ["```py\nprint('" + B + "n')\n```" + B + "n", "```py\nprint('" + B + "n')\n```\n"],
  ["$a" + B + "nb$ " + B + "n", "$a" + B + "nb$ \n"],
  ["$$" + B + "nu$$" + B + "n", "$$" + B + "nu$$\n"],
  [B + "(x" + B + "ny" + B + ")" + B + "n", B + "(x" + B + "ny" + B + ")\n"],
  [B + "[x" + B + "ny" + B + "]" + B + "n", B + "[x" + B + "ny" + B + "]\n"],
  ["unclosed `code " + B + "n", "unclosed `code " + B + "n"],
  [`end${B}`, `end${B}`],
  [`end${B}r`, "end\n"],
  ["", ""],
  ["plain text\nwith real newlines", "plain text\nwith real newlines"],
];

test("newline repair: the documented rules", () => {
  for (const [input, want] of cases) assert.equal(repairNewlines(input), want, JSON.stringify(input));
});

test("newline repair: every cutting of the examples gives the whole-text result", () => {
  for (const [input, want] of cases) {
    for (const pieces of cuttings(input)) assert.equal(streamed(pieces), want, JSON.stringify(pieces));
  }
});

test("newline repair: streaming == whole on random texts of markers", () => {
  const rand = prng(7);
  const alphabet = [B, "n", "r", "`", "``", "```", "$", "$$", "(", ")", "[", "]", "a", "\n", " "];
  for (let n = 0; n < 400; n++) {
    const text = randomText(rand, alphabet);
    const whole = new NewlineRepair().push(text, true);
    for (const pieces of cuttings(text, n)) assert.equal(streamed(pieces), whole, JSON.stringify(pieces));
  }
});

test("newline repair: the span state survives a flush, pending text does not", () => {
  const r = new NewlineRepair();
  assert.equal(r.push("a" + B), "a");
  assert.equal(r.flush(), B);
  assert.equal(r.push("n `x"), "n `x");
  assert.equal(r.flush(), "");
  assert.equal(r.push(B + "n` " + B + "n", true), B + "n` \n");
});
