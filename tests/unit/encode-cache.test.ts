/** The tile embedding cache: least recently used out first, within a byte budget; content hashes. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { contentHash, EncodeCache } from "../../engine/ts/vision/encode-cache.ts";

const floats = (n: number, v = 0) => new Float32Array(n).fill(v);

test("a miss, then a hit returning the very array stored", () => {
  const c = new EncodeCache(1024);
  assert.equal(c.get("a"), undefined);
  const a = floats(4, 1);
  c.set("a", a);
  assert.equal(c.get("a"), a);
  assert.deepEqual([c.hits, c.misses], [1, 1]);
  assert.deepEqual(c.size, { entries: 1, bytes: 16 });
});

test("over budget, the least recently used entry goes first (a get counts as a use)", () => {
  const c = new EncodeCache(32); // two 16-byte entries
  c.set("a", floats(4));
  c.set("b", floats(4));
  assert.ok(c.get("a")); // b is now the oldest
  c.set("c", floats(4));
  assert.equal(c.get("b"), undefined);
  assert.ok(c.get("a"));
  assert.ok(c.get("c"));
  assert.deepEqual(c.size, { entries: 2, bytes: 32 });
  c.set("d", floats(8)); // 32 bytes alone: everything else goes
  assert.deepEqual(c.size, { entries: 1, bytes: 32 });
  assert.ok(c.get("d"));
});

test("an entry larger than the whole budget is not kept and evicts nothing", () => {
  const c = new EncodeCache(32);
  c.set("a", floats(4));
  c.set("big", floats(9));
  assert.equal(c.get("big"), undefined);
  assert.ok(c.get("a"));
  assert.deepEqual(c.size, { entries: 1, bytes: 16 });
});

test("setting a key again replaces its value and its bytes", () => {
  const c = new EncodeCache(64);
  c.set("a", floats(8));
  const b = floats(2, 7);
  c.set("a", b);
  assert.equal(c.get("a"), b);
  assert.deepEqual(c.size, { entries: 1, bytes: 8 });
});

test("contentHash is the hex SHA-256 of exactly the bytes of the view", async () => {
  assert.equal(await contentHash(new Uint8Array()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  assert.equal(await contentHash(new TextEncoder().encode("abc")), abc);
  const inside = new Uint8Array([0, 0x61, 0x62, 0x63, 0]).subarray(1, 4);
  assert.equal(await contentHash(inside), abc);
});
