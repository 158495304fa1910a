/**
 * Pure parts of the web page and its routes: HTTP Range parsing for the model files
 * (routes/file-response.ts) and which turns the page sends again (web/history.ts).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { parseRange } from "../../routes/file-response.ts";
import type { ChatMessageRecord } from "../../web/chat-types.ts";
import { requestHistory } from "../../web/history.ts";

test("parseRange: single ranges, suffixes, clamping; unsatisfiable past the end; others ignored", () => {
  assert.deepEqual(parseRange("bytes=0-3", 100), [0, 3]);
  assert.deepEqual(parseRange("bytes=10-", 100), [10, 99]);
  assert.deepEqual(parseRange("bytes=90-200", 100), [90, 99]);
  assert.deepEqual(parseRange("bytes=-10", 100), [90, 99]);
  assert.deepEqual(parseRange("bytes=-500", 100), [0, 99]);
  assert.equal(parseRange("bytes=100-", 100), "unsatisfiable");
  assert.equal(parseRange("bytes=-0", 100), "unsatisfiable");
  for (const h of [undefined, "", "bytes=5-2", "bytes=0-1,4-5", "items=0-1", "bytes=-"]) {
    assert.equal(parseRange(h, 100), null, String(h));
  }
});

test("requestHistory: a failed turn (error, no text) is left out with its question; partial answers stay", () => {
  const u = (text: string): ChatMessageRecord => ({ role: "user", text });
  const a = (text: string, error?: string): ChatMessageRecord => ({ role: "assistant", text, error });
  const conversation = [u("1"), a("one"), u("bad"), a("", "refused"), u("2"), a("tw", "Stopped."), u("3")];
  assert.deepEqual(requestHistory(conversation).map((m) => m.text), ["1", "one", "2", "tw", "3"]);
});
