/** The --media-dir check: which image references the server reads from disk, and which it refuses. */

import assert from "node:assert/strict";
import { test } from "node:test";
import { HttpError } from "../../routes/errors.ts";
import { insideDir, mediaSource } from "../../routes/media.ts";

const refused = (pattern: RegExp, param = "messages.0.content.1") => (e: unknown) => {
  assert.ok(e instanceof HttpError, `expected HttpError, got ${e}`);
  assert.equal(e.status, 400);
  assert.equal(e.type, "invalid_request_error");
  assert.equal(e.param, param);
  assert.match(e.message, pattern);
  return true;
};
const source = (url: string, dir: string | undefined) => mediaSource(url, dir, "messages.0.content.1");

test("data and http(s) URLs pass through, with or without a media directory", () => {
  for (const url of ["data:image/png;base64,AAAA", "http://x.test/a.jpg", "HTTPS://x.test/a.jpg"]) {
    assert.equal(source(url, undefined), url);
    assert.equal(source(url, "/media"), url);
  }
});

test("without --media-dir every local path is refused", () => {
  for (const url of ["a.jpg", "/media/a.jpg", "file:///media/a.jpg"]) {
    assert.throws(() => source(url, undefined), refused(/local files are disabled .*--media-dir/));
  }
});

test("paths inside the directory: relative, absolute, file: URLs, percent-encoded", () => {
  assert.equal(source("a.jpg", "/media"), "/media/a.jpg");
  assert.equal(source("sub/./b.jpg", "/media/"), "/media/sub/b.jpg");
  assert.equal(source("/media/sub/../c.jpg", "/media"), "/media/c.jpg");
  assert.equal(source("file:///media/my%20photo.jpg", "/media"), "/media/my photo.jpg");
  assert.equal(source("my%20photo.jpg", "/media"), "/media/my photo.jpg");
  assert.equal(source("photo#1.jpg", "/media"), "/media/photo#1.jpg", "no URL parsing of plain paths");
  assert.equal(source("sub\\c.jpg", "/media"), "/media/sub/c.jpg");
});

test("paths that leave the directory are refused, however they are spelled", () => {
  for (
    const url of [
      "../etc/passwd",
      "/etc/passwd",
      "sub/../../etc/passwd",
      "%2e%2e/etc/passwd",
      "..%2Fetc/passwd",
      "/media/..%2f..%2fetc/passwd",
      "file:///etc/passwd",
      "file:///media/..%2Fetc/passwd",
      "/media-other/a.jpg", // a sibling sharing the prefix
      "/media", // the directory itself
      "",
      "..\\etc\\passwd", // backslashes separate segments, as in file URLs (and on Windows)
      "sub\\..\\..\\etc",
    ]
  ) {
    assert.throws(() => source(url, "/media"), refused(/outside the media directory/), url);
  }
});

test("a malformed percent escape is a 400, not an internal error", () => {
  assert.throws(() => source("100%.jpg", "/media"), refused(/malformed image path 100%\.jpg/));
});

test("a relative media directory stays relative and is enforced the same way", () => {
  assert.equal(insideDir("media", "a.jpg"), "media/a.jpg");
  assert.equal(insideDir("./media/", "sub/a.jpg"), "media/sub/a.jpg");
  assert.equal(insideDir("../shared/media", "a.jpg"), "../shared/media/a.jpg");
  assert.equal(insideDir("media", "../etc/passwd"), undefined);
  assert.equal(insideDir("media", "/etc/passwd"), undefined);
  assert.equal(insideDir("../shared/media", "../x.jpg"), undefined);
  assert.equal(insideDir(".", "a.jpg"), "a.jpg");
  assert.equal(insideDir(".", "../a.jpg"), undefined);
  assert.equal(insideDir(".", "/a.jpg"), undefined);
  assert.equal(insideDir("/", "/etc/hosts"), "/etc/hosts");
});
