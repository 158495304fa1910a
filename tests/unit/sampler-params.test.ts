/**
 * Sampling options are checked in the library before they reach llama.cpp: values the sampler
 * would turn into a crash or a huge allocation (a penalty window of 10^9 tokens) are a typed error.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import { samplerParams } from "../../engine/ts/generation.ts";
import { InvalidRequestError } from "../../engine/ts/errors.ts";

test("defaults, and a penalty window up to 65,536 tokens (-1: the whole context)", () => {
  assert.equal(samplerParams({}).penaltyLastN, 64);
  assert.equal(samplerParams({ repeatLastN: -1 }).penaltyLastN, -1);
  assert.equal(samplerParams({ repeatLastN: 65_536 }).penaltyLastN, 65_536);
});

test("out-of-range values are a typed error naming the option", () => {
  for (
    const [o, name] of [
      [{ repeatLastN: 1e9 }, "repeatLastN"],
      [{ repeatLastN: -2 }, "repeatLastN"],
      [{ topP: 1.5 }, "topP"],
      [{ temperature: Number.NaN }, "temperature"],
    ] as const
  ) {
    assert.throws(() => samplerParams(o), (e) => e instanceof InvalidRequestError && e.message.startsWith(name));
  }
});
