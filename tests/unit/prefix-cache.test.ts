/**
 * The prefix cache's bookkeeping without an engine: the shared prefix of two prompts with
 * embedding spans (keys decide, not the placeholder tokens), content keys of unkeyed embeddings,
 * and the byte budget of checkpoints and parked conversations (least recently used out first).
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { CheckpointStore, contentKey, deepest, PromptIdentity } from "../../engine/ts/prefix-cache.ts";

const P = 9; // a placeholder token
const id = (tokens: number[], spans: [number, number, string][] = []) =>
  new PromptIdentity(tokens, spans.map(([start, end, key]) => ({ start, end, key })));

test("the shared prefix: tokens, then embedding spans by key", () => {
  const a = id([1, 2, P, P, P, 3, 4], [[2, 5, "img-a"]]);
  assert.equal(a.commonPrefix(id([1, 2, P, P, P, 3, 5], [[2, 5, "img-a"]])), 6);
  assert.equal(a.commonPrefix(id([1, 2, P, P, P, 3, 4], [[2, 5, "img-b"]])), 2, "another image");
  assert.equal(a.commonPrefix(id([1, 2, P, P, P, P, 3], [[2, 6, "img-a"]])), 5, "more rows of the same key");
  assert.equal(a.commonPrefix(id([1, 2, P, P, P, 3, 4])), 2, "placeholder tokens without embeddings");
  assert.equal(a.commonPrefix(id([1, 7])), 1);
  // a sequence cut inside a span keeps the key for its first rows
  assert.equal(a.slice(4).commonPrefix(a), 4);
  assert.deepEqual(a.slice(4).spans, [{ start: 2, end: 4, key: "img-a" }]);
});

test("unkeyed embeddings: equal bits, equal key; one changed value, another", () => {
  const x = Float32Array.from({ length: 64 }, (_, i) => i / 7);
  const y = x.slice();
  assert.equal(contentKey(x), contentKey(y));
  const z = x.slice(); // (keys are remembered per array: embeddings are not changed once given)
  z[40] += 1e-6;
  assert.notEqual(contentKey(x), contentKey(z));
});

test("checkpoints: the deepest one at or before a position; dropped past a trim", () => {
  const store = new CheckpointStore(1000);
  store.add(0, 10, new Uint8Array(100));
  store.add(0, 30, new Uint8Array(100));
  store.add(1, 20, new Uint8Array(100));
  assert.equal(deepest(store.of(0), 25)?.n, 10);
  assert.equal(deepest(store.of(0), 30)?.n, 30);
  assert.equal(deepest(store.of(0), 9), undefined);
  store.dropAfter(0, 10);
  assert.deepEqual(store.of(0).map((c) => c.n), [10]);
  assert.equal(store.bytes, 200);
});

test("the budget: least recently used out first, parked conversations included", () => {
  const store = new CheckpointStore(300);
  store.add(0, 10, new Uint8Array(100));
  store.add(1, 10, new Uint8Array(100));
  store.touch(store.of(0)[0]); // sequence 0's checkpoint is now the most recently used
  store.add(2, 10, new Uint8Array(150));
  assert.deepEqual([store.of(0).length, store.of(1).length, store.of(2).length], [1, 0, 1]);
  assert.equal(store.bytes, 250);

  // parking moves the sequence's checkpoints past the kept prefix into the parked conversation
  assert.ok(store.park(0, 5, id([1, 2, 3]), new Uint8Array(40)));
  assert.equal(store.of(0).length, 0);
  assert.equal(store.parked.length, 1);
  assert.equal(store.bytes, 290);
  const p = store.parked[0];
  store.unpark(p, 3);
  assert.deepEqual(store.of(3).map((c) => c.n), [10]);
  assert.equal(store.bytes, 250);
  assert.ok(!store.add(4, 1, new Uint8Array(301)), "larger than the whole budget");
  assert.equal(store.bytes, 250);
});
