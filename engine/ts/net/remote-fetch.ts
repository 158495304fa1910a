/**
 * Fetching a client-named http(s) URL on the client's behalf (remote images and videos), so that
 * a hostile or slow URL costs a bounded time and memory and cannot reach the server's own
 * networks: one deadline over the whole transfer (every hop's headers and the body), a shorter
 * one for each answer, redirects followed by hand (capped, each hop checked again), the size
 * capped while streaming, and hosts that are or resolve to loopback, private, link-local,
 * CGNAT, multicast or reserved addresses (address-class.ts), or to this machine's own
 * addresses, refused unless `allowPrivate`. Failures are InvalidRequestErrors whose messages
 * say what went wrong without telling why a connection failed (refused, reset, unresolvable
 * and filtered read alike), so that they cannot be used to map the network.
 *
 * Residual risk, DNS rebinding: the name is resolved and judged here, then fetch resolves it
 * again to connect. A name with a zero TTL can answer a public address to the check and a
 * private one to the connection. Connecting to the checked address instead is not possible
 * through fetch across runtimes (https needs the name for SNI and the certificate; Host is a
 * forbidden header in some), so the check narrows the window to milliseconds and every
 * redirect hop is judged again, but a determined rebinding attacker may still win the race.
 * Operators who need a guarantee put the server behind an egress firewall. Browsers cannot
 * resolve names (platform resolveHost answers undefined) and follow redirects themselves, so
 * there only literal addresses are judged.
 */

import { AbortError, InvalidRequestError } from "../errors.ts";
import { localAddresses, readsRedirects, resolveHost } from "../platform/index.ts";
import { classifyAddress, classifyHost } from "./address-class.ts";

export interface RemoteFetchOptions {
  /** what is fetched, for messages and the error's param ("image", "video") */
  what: string;
  /** largest body, bytes */
  maxBytes: number;
  /** the whole transfer: all redirect hops, headers and body, ms */
  timeoutMs: number;
  /** from each request (hop) until its response headers, ms (capped by what is left of timeoutMs) */
  connectTimeoutMs: number;
  maxRedirects: number;
  /** fetch from loopback, private, link-local and reserved addresses too */
  allowPrivate: boolean;
  /** the caller's cancellation (its client left): rejects with AbortError */
  signal?: AbortSignal;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** The body at `url`, under the limits and the address policy of `o`. */
export async function fetchRemote(url: string, o: RemoteFetchOptions): Promise<Uint8Array> {
  const shown = url.length > 120 ? `${url.slice(0, 117)}...` : url;
  const fail = (message: string) => new InvalidRequestError(`${o.what} URL ${shown} ${message}`, o.what);
  const seconds = (ms: number) => `${Number((ms / 1000).toFixed(3))} s`;

  const started = Date.now();
  const ctrl = new AbortController();
  let why: "total" | "answer" | "cancelled" | undefined;
  let phase: "answer" | "body" = "answer";
  const stop = (reason: typeof why) => {
    why ??= reason;
    ctrl.abort();
  };
  // Every await below races this, so that a runtime whose fetch or body stream does not react
  // to the abort at once still cannot hold the request past its deadline.
  const aborted = new Promise<never>((_, reject) => {
    ctrl.signal.addEventListener("abort", () => reject(new Error("aborted")), { once: true });
  });
  aborted.catch(() => {});
  const within = <T>(p: Promise<T>) => Promise.race([p, aborted]);
  const totalTimer = setTimeout(() => stop("total"), o.timeoutMs);
  const onCancel = () => stop("cancelled");
  o.signal?.addEventListener("abort", onCancel, { once: true });
  if (o.signal?.aborted) stop("cancelled");

  try {
    let current: URL;
    try {
      current = new URL(url);
    } catch {
      throw fail("is not a valid URL");
    }
    for (let hop = 0;; hop++) {
      if (current.protocol !== "http:" && current.protocol !== "https:") {
        throw fail(hop ? "redirects to a URL that is not http(s)" : "is not an http(s) URL");
      }
      if (!o.allowPrivate && !(await within(isPublicHost(current.hostname)))) {
        throw fail(
          `${hop ? "redirects to" : "resolves to"} a private address; ` +
            "the server refuses such URLs unless started with --allow-private-urls",
        );
      }
      phase = "answer";
      // past what is left of the total, the total's deadline (and message) applies
      const left = o.timeoutMs - (Date.now() - started);
      const answerTimer = o.connectTimeoutMs < left ? setTimeout(() => stop("answer"), o.connectTimeoutMs) : undefined;
      let res: Response;
      try {
        res = await within(fetch(current, {
          signal: ctrl.signal,
          redirect: readsRedirects ? "manual" : "follow",
        }));
      } finally {
        clearTimeout(answerTimer);
      }
      const location = res.headers.get("location");
      if (REDIRECTS.has(res.status) && location !== null) {
        discard(res);
        if (hop >= o.maxRedirects) throw fail(`redirects more than ${o.maxRedirects} times`);
        try {
          current = new URL(location, current);
        } catch {
          throw fail("redirects to an invalid URL");
        }
        continue;
      }
      if (!res.ok) {
        discard(res);
        throw fail(`cannot be fetched: HTTP ${res.status}`);
      }
      phase = "body";
      return await readCapped(res, o.maxBytes, within, fail);
    }
  } catch (e) {
    if (why === "cancelled") throw new AbortError("the request was cancelled");
    if (why === "answer") throw fail(`did not answer within ${seconds(o.connectTimeoutMs)}`);
    if (why === "total") {
      throw fail(
        phase === "answer"
          ? `did not answer within ${seconds(o.timeoutMs)}`
          : `did not send the whole ${o.what} within ${seconds(o.timeoutMs)}`,
      );
    }
    if (e instanceof InvalidRequestError) throw e;
    // refused, reset, unresolvable, TLS: one message, whatever the cause
    throw fail(phase === "answer" ? "cannot be fetched: no connection to its host" : "broke off while sending");
  } finally {
    clearTimeout(totalTimer);
    o.signal?.removeEventListener("abort", onCancel);
    ctrl.abort(); // a body left unread (an error above) is not downloaded further
  }
}

/**
 * Whether a URL's host is on the public internet: a literal address by its class, a name by
 * every address it resolves to (one private answer is enough to refuse: fetch may pick it) and
 * none of them this machine's own. A name that does not resolve rejects (reported as no
 * connection); in browsers names pass unjudged.
 */
async function isPublicHost(hostname: string): Promise<boolean> {
  const literal = classifyHost(hostname);
  const addresses = literal !== undefined ? [hostname.replace(/^\[|\]$/g, "")] : await resolveHost(hostname);
  if (addresses === undefined) return true;
  if (addresses.length === 0) throw new Error("no address");
  const own = new Set((await localAddresses()).map(canonical));
  return addresses.every((a) => classifyAddress(a) === "public" && !own.has(canonical(a)));
}

/** An address in one spelling, to compare with the machine's own (IPv6 zone dropped, lower case). */
function canonical(address: string): string {
  return address.toLowerCase().replace(/%.*$/, "");
}

function discard(res: Response) {
  res.body?.cancel().catch(() => {});
}

/** The body, refused as soon as it (declared or received) passes `maxBytes`. */
async function readCapped(
  res: Response,
  maxBytes: number,
  within: <T>(p: Promise<T>) => Promise<T>,
  fail: (message: string) => InvalidRequestError,
): Promise<Uint8Array> {
  const declared = Number(res.headers.get("content-length") ?? 0);
  if (declared > maxBytes) {
    discard(res);
    throw fail(`is ${declared} bytes; the limit is ${maxBytes}`);
  }
  if (!res.body) return new Uint8Array(0);
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await within(reader.read());
      if (done) break;
      total += value.length;
      if (total > maxBytes) throw fail(`exceeds ${maxBytes} bytes`);
      chunks.push(value);
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  }
  const out = new Uint8Array(total);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.length;
  }
  return out;
}
