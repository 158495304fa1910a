/** Model references: which strings are paths, URLs, Hugging Face files or repository:quant, and which are refused. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { ModelFetchError } from "../../engine/ts/errors.ts";
import { describeRef, isRemoteRef, parseModelRef, shardNames } from "../../engine/ts/hub/refs.ts";

const badReference = (pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof ModelFetchError, `expected ModelFetchError, got ${e}`);
  assert.equal(e.code, "bad_reference");
  assert.match(e.message, pattern);
  return true;
};

test("local paths, including file: URLs (decoded) and names that only look like repo:quant", () => {
  assert.deepEqual(parseModelRef("models/tiny.gguf"), { kind: "path", path: "models/tiny.gguf" });
  assert.deepEqual(parseModelRef("  /abs/m.gguf \n"), { kind: "path", path: "/abs/m.gguf" }, "trimmed");
  assert.deepEqual(parseModelRef("file:///tmp/my%20model.gguf"), { kind: "path", path: "/tmp/my model.gguf" });
  // a repository needs "hf:" or ":QUANT"; a .gguf name after the colon is a file
  assert.deepEqual(parseModelRef("owner/repo"), { kind: "path", path: "owner/repo" });
  assert.deepEqual(parseModelRef("dir/file:v2.gguf"), { kind: "path", path: "dir/file:v2.gguf" });
  assert.deepEqual(parseModelRef("./owner/repo:Q4_K_M"), { kind: "path", path: "./owner/repo:Q4_K_M" });
});

test("http(s) URLs are normalized; a malformed one is refused", () => {
  assert.deepEqual(parseModelRef("HTTPS://Example.test/a b.gguf"), {
    kind: "url",
    url: "https://example.test/a%20b.gguf",
  });
  assert.throws(() => parseModelRef("http://[::1/x.gguf"), badReference(/not a valid URL/));
});

test("Hugging Face files and repository:quant forms", () => {
  const repo = "openbmb/MiniCPM-V-4.6-gguf";
  const file = { kind: "hf-file", repo, file: "sub/dir/model-Q4_K_M.gguf", revision: "main" };
  assert.deepEqual(parseModelRef("hf:openbmb/MiniCPM-V-4.6-gguf/sub/dir/model-Q4_K_M.gguf"), file);
  assert.deepEqual(parseModelRef("hf://openbmb/MiniCPM-V-4.6-gguf/sub/dir/model-Q4_K_M.gguf"), file);
  const quant = { kind: "hf-quant", repo, quant: "Q4_K_M", revision: "main" };
  assert.deepEqual(parseModelRef("openbmb/MiniCPM-V-4.6-gguf:Q4_K_M"), quant);
  assert.deepEqual(parseModelRef("hf:openbmb/MiniCPM-V-4.6-gguf:Q4_K_M"), quant);
  const whole = { kind: "hf-quant", repo: "owner/repo", quant: "", revision: "main" };
  assert.deepEqual(parseModelRef("hf:owner/repo"), whole, "no quant: picked from the listing");
});

test("empty and malformed hf: references are refused with what to write instead", () => {
  assert.throws(() => parseModelRef("   "), badReference(/empty model reference/));
  const advice = /use hf:owner\/repo\/file\.gguf or owner\/repo:QUANT/;
  assert.throws(() => parseModelRef("hf:just-a-name"), badReference(advice));
  assert.throws(() => parseModelRef("hf:owner/repo/notes.txt"), badReference(/bad Hugging Face reference/));
});

test("isRemoteRef: everything but a local path", () => {
  assert.equal(isRemoteRef("/m.gguf"), false);
  assert.equal(isRemoteRef("file:///m.gguf"), false);
  assert.equal(isRemoteRef("https://x.test/m.gguf"), true);
  assert.equal(isRemoteRef("owner/repo:Q8_0"), true);
  assert.equal(isRemoteRef("hf:owner/repo/m.gguf"), true);
});

test("describeRef writes each kind back in its canonical form", () => {
  for (
    const [ref, described] of [
      ["m.gguf", "m.gguf"],
      ["https://x.test/m.gguf", "https://x.test/m.gguf"],
      ["hf://owner/repo/m.gguf", "hf:owner/repo/m.gguf"],
      ["hf:owner/repo:Q8_0", "owner/repo:Q8_0"],
      ["hf:owner/repo", "owner/repo"],
    ]
  ) {
    assert.equal(describeRef(parseModelRef(ref)), described, ref);
  }
});

test("shardNames: the whole split set from its first shard; another shard is refused", () => {
  assert.deepEqual(shardNames("model.gguf"), ["model.gguf"]);
  assert.deepEqual(shardNames("dir/m-00001-of-00003.gguf"), [
    "dir/m-00001-of-00003.gguf",
    "dir/m-00002-of-00003.gguf",
    "dir/m-00003-of-00003.gguf",
  ]);
  assert.throws(() => shardNames("m-00002-of-00003.gguf"), badReference(/shard 2 of 3: name the first shard/));
});
