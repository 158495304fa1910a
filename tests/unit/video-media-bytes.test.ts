/**
 * A long video's bytes in memory once: a video file is read into shared memory (the media worker
 * reads the same bytes, no clone), and its content hash is computed in slices, never on a copy.
 */

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { test } from "node:test";
import { loadMediaBytes, shareableBytes } from "../../engine/ts/media-source.ts";
import { contentHash } from "../../engine/ts/vision/encode-cache.ts";

/** 40 MB of varied bytes: more than one read chunk and more than one hash slice (16 MiB each). */
function bigBytes(): Uint8Array {
  const bytes = new Uint8Array(40_000_003);
  for (let i = 0; i < bytes.length; i += 4093) bytes[i] = (i * 2654435761) >>> 24;
  return bytes;
}

test("a video file is read whole into shared memory; an image file into plain memory", async () => {
  const dir = mkdtempSync(`${tmpdir()}/mce-video-bytes-`);
  try {
    const bytes = bigBytes();
    writeFileSync(`${dir}/big.mp4`, bytes);
    const video = await loadMediaBytes(`${dir}/big.mp4`, {}, "video");
    assert.ok(video.buffer instanceof SharedArrayBuffer);
    assert.equal(video.length, bytes.length);
    assert.ok(Buffer.from(video).equals(Buffer.from(bytes)), "the same bytes");
    writeFileSync(`${dir}/empty.mp4`, new Uint8Array());
    assert.equal((await loadMediaBytes(`${dir}/empty.mp4`, {}, "video")).length, 0);
    const image = await loadMediaBytes(`${dir}/big.mp4`, {}, "image");
    assert.ok(image.buffer instanceof ArrayBuffer);
    await assert.rejects(loadMediaBytes(`${dir}/missing.mp4`, {}, "video"), /cannot read video file/);
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test("shareableBytes copies plain bytes into shared memory once and passes shared bytes and paths as they are", () => {
  const plain = new Uint8Array([1, 2, 3]);
  const shared = shareableBytes(plain) as Uint8Array;
  assert.ok(shared.buffer instanceof SharedArrayBuffer);
  assert.deepEqual([...shared], [1, 2, 3]);
  assert.equal(plain.length, 3, "the caller's bytes stay theirs");
  assert.equal(shareableBytes(shared), shared);
  assert.equal(shareableBytes("clip.mp4"), "clip.mp4");
});

test("contentHash of a long video (hashed in slices) is its SHA-256, shared memory or not", async () => {
  const bytes = bigBytes();
  const expected = createHash("sha256").update(bytes).digest("hex");
  assert.equal(await contentHash(bytes), expected);
  assert.equal(await contentHash(shareableBytes(bytes) as Uint8Array), expected);
  const inside = bytes.subarray(5, 20_000_005); // a view: exactly its bytes
  assert.equal(await contentHash(inside), createHash("sha256").update(inside).digest("hex"));
});
