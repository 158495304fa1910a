/**
 * Image and video references in requests: data and http(s) URLs pass through; local paths (plain or
 * `file:` URLs) only with --media-dir, and only inside it. The path is resolved here, before the
 * pipeline reads it, so `..` segments (also percent-encoded ones) cannot leave the directory.
 */

import { HttpError } from "./errors.ts";

/** A media reference from a request as the pipeline takes it (a URL, or a path inside `mediaDir`). */
export function mediaSource(
  url: string,
  mediaDir: string | undefined,
  param: string,
  kind: "image" | "video" = "image",
): string {
  if (url.startsWith("data:") || /^https?:\/\//i.test(url)) return url;
  if (!mediaDir) {
    throw new HttpError(
      400,
      `${kind}s must be data URLs or http(s) URLs; local files are disabled (the operator can enable --media-dir)`,
      "invalid_request_error",
      param,
    );
  }
  let path: string;
  try {
    path = /^file:/i.test(url) ? decodeURIComponent(new URL(url).pathname) : decodeURIComponent(url);
  } catch {
    throw new HttpError(400, `malformed ${kind} path ${url}`, "invalid_request_error", param);
  }
  const resolved = insideDir(mediaDir, path);
  if (resolved === undefined) {
    throw new HttpError(400, `${kind} path ${url} is outside the media directory`, "invalid_request_error", param);
  }
  return resolved;
}

/**
 * `path` (absolute, or relative to `dir`) with `.` and `..` resolved, when it names something
 * strictly inside `dir`; undefined otherwise. A relative `dir` stays relative (to the working
 * directory, as the file read resolves it); absolute paths never match a relative `dir`.
 * Backslashes separate segments too (as in file URLs), so `..\` cannot climb out on Windows.
 */
export function insideDir(dir: string, path: string): string | undefined {
  const root = normalize(dir);
  const resolved = normalize(isAbsolute(path) ? path : `${root}/${path}`);
  if (root === ".") {
    // the working directory: any relative path that does not climb out of it
    return resolved.startsWith("/") || resolved === "." || resolved.split("/")[0] === ".." ? undefined : resolved;
  }
  const prefix = root.endsWith("/") ? root : `${root}/`;
  return resolved.startsWith(prefix) && resolved.length > prefix.length ? resolved : undefined;
}

const isAbsolute = (path: string) => /^[\\/]/.test(path);

/** Path normalization: no empty or `.` segments, `..` applied (kept at the start of a relative path). */
function normalize(path: string): string {
  const absolute = isAbsolute(path);
  const out: string[] = [];
  for (const s of path.split(/[\\/]/)) {
    if (s === "" || s === ".") continue;
    if (s === ".." && out.length && out[out.length - 1] !== "..") out.pop();
    else if (s !== ".." || !absolute) out.push(s);
  }
  return (absolute ? "/" : "") + (out.join("/") || (absolute ? "" : "."));
}
