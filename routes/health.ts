/**
 * What /health (and /v1/health) answer: 200 {"status":"ok"} only when a request would run now;
 * otherwise 503 with why, for readiness probes and load balancers: the model's files downloading
 * (bytes so far), the mmproj's one-time conversion, loading (also again after an engine crash),
 * the server draining before it exits, a stalled engine step, or a failed load. /livez is the
 * process being alive, nothing more (a liveness probe must not kill a replica that is loading).
 */

import type { ModelService } from "./service.ts";

export interface Health {
  status: "ok" | "downloading" | "converting" | "loading" | "draining" | "error";
  [detail: string]: unknown;
}

export function healthOf(service: ModelService): Health {
  if (service.draining) return { status: "draining", requests_in_flight: service.inFlight };
  switch (service.state) {
    case "ready": {
      const stall = service.stall();
      if (stall) return { status: "error", error: stall };
      // unloaded for being idle (routes/idle.ts): still ready, the next request loads the model again
      return service.sleeping ? { status: "ok", sleeping: true } : { status: "ok" };
    }
    case "downloading":
      return { status: "downloading", ...service.download };
    case "converting":
      return { status: "converting" };
    case "loading":
      return { status: "loading" };
    case "error":
      return { status: "error", error: service.error };
  }
}
