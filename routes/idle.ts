/**
 * Unloading the model when nobody uses it: Ollama's `keep_alive` (per request: how long the model stays
 * loaded after it; 0 unloads at once, negative keeps it forever) and serve's `--sleep-idle-seconds` (the
 * default for requests that name none; 0: never). The timer starts when the last request in flight ends;
 * the next request loads the model again (ModelService.unload and model()).
 */

import { InvalidRequestError } from "../engine/ts/errors.ts";
import type { ModelService } from "./service.ts";

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** the longest timer setTimeout keeps (about 24.8 days); longer is "forever" */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A `keep_alive` value in ms: a number of seconds, or a Go duration ("5m", "300s", "1h30m", "0"); negative
 * values (and anything beyond a timer's range) are Infinity, i.e. forever. undefined when absent.
 */
export function keepAliveMs(v: string | number | undefined | null): number | undefined {
  if (v == null) return undefined;
  let ms: number;
  if (typeof v === "number") ms = v * 1000;
  else if (/^\s*-?\d+(\.\d+)?\s*$/.test(v)) ms = Number(v) * 1000;
  else {
    const s = v.trim();
    const m = /^(-?)((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)$/.exec(s);
    if (!m) {
      throw new InvalidRequestError(
        `keep_alive ${JSON.stringify(v)} is not a duration: use seconds (300) or a duration ("5m", "1h", "-1")`,
        "keep_alive",
      );
    }
    ms = 0;
    for (const [, n, unit] of m[2].matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(n) * UNITS[unit];
    if (m[1]) ms = -ms;
  }
  if (!Number.isFinite(ms) || ms < 0 || ms > MAX_TIMER_MS) return Infinity;
  return ms;
}

export class IdleUnloader {
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** when the scheduled unload fires (epoch ms), when one is scheduled */
  private dueAt: number | undefined;
  /** how long the model stays loaded after the last request: the last request's keep_alive, else the default */
  private keepAlive: number;

  /** `defaultMs`: the keep-alive of requests that name none (Infinity: never unload) */
  constructor(private readonly service: ModelService, private readonly defaultMs: number) {
    this.keepAlive = defaultMs;
    service.onIdle = () => this.schedule();
  }

  /** A request starts with this keep_alive (undefined: the default); it applies once requests end. */
  request(keepAliveMs: number | undefined) {
    this.keepAlive = keepAliveMs ?? this.defaultMs;
    this.cancel();
  }

  /** When the model will be unloaded if no request comes: undefined for never. */
  expiresAt(): Date | undefined {
    if (this.dueAt !== undefined) return new Date(this.dueAt);
    return Number.isFinite(this.keepAlive) ? new Date(Date.now() + this.keepAlive) : undefined;
  }

  private schedule() {
    this.cancel();
    if (!Number.isFinite(this.keepAlive)) return;
    this.dueAt = Date.now() + this.keepAlive;
    this.timer = setTimeout(() => {
      this.timer = this.dueAt = undefined;
      this.service.unload().catch(() => {}); // refused while requests are in flight: they schedule again
    }, this.keepAlive);
  }

  private cancel() {
    clearTimeout(this.timer);
    this.timer = this.dueAt = undefined;
  }

  close() {
    this.cancel();
    this.service.onIdle = undefined;
  }
}
