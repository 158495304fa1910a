/**
 * One admitted request: holds a server slot, follows client disconnects (an AbortSignal that
 * stops the generation), and keeps the slot until a streamed response has ended.
 */

import type { Context } from "hono";
import { type SSEStreamingApi, stream as honoStream, streamSSE } from "hono/streaming";
import { toHttpError } from "./errors.ts";
import type { ModelService } from "./service.ts";

export class RequestScope {
  private readonly controller = new AbortController();
  private readonly release: () => void;
  private handedOff = false;
  private ended = false;
  private readonly onClientAbort = () => this.controller.abort();

  constructor(private readonly c: Context, service: ModelService) {
    this.release = service.admit();
    const raw = c.req.raw.signal;
    if (raw.aborted) this.controller.abort();
    else raw.addEventListener("abort", this.onClientAbort, { once: true });
  }

  /** aborted when the client goes away */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** A server-sent-events response; errors after the headers become an `{"error": ...}` event. */
  sse(write: (stream: SSEStreamingApi) => Promise<void>): Response {
    this.handedOff = true;
    return streamSSE(this.c, async (stream) => {
      stream.onAbort(this.onClientAbort);
      try {
        await write(stream);
      } catch (e) {
        if (!this.signal.aborted) {
          await stream.writeSSE({ data: JSON.stringify(toHttpError(e).body()) }).catch(() => {});
        }
      } finally {
        this.end();
      }
    });
  }

  /** A newline-delimited JSON response (Ollama); errors after the headers become `{"error": "..."}`. */
  ndjson(write: (send: (value: unknown) => Promise<void>) => Promise<void>): Response {
    this.handedOff = true;
    this.c.header("content-type", "application/x-ndjson");
    return honoStream(this.c, async (stream) => {
      stream.onAbort(this.onClientAbort);
      const send = (v: unknown) => stream.write(JSON.stringify(v) + "\n").then(() => {});
      try {
        await write(send);
      } catch (e) {
        if (!this.signal.aborted) await send({ error: toHttpError(e).message }).catch(() => {});
      } finally {
        this.end();
      }
    });
  }

  /** Ends the scope unless a stream took it over. Call in `finally`. */
  settle() {
    if (!this.handedOff) this.end();
  }

  private end() {
    if (this.ended) return;
    this.ended = true;
    this.c.req.raw.signal.removeEventListener("abort", this.onClientAbort);
    this.release();
  }
}
