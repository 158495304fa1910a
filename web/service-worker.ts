/**
 * For static hosts that cannot send headers (docs/web.md): re-serves the page's own same-origin
 * responses with COOP/COEP (and CORP), so after one reload the page is cross-origin isolated and
 * the wasm engine gets threads. Only the headers change; nothing is cached here (the model cache
 * is OPFS). Registered by app.ts only when the page is not isolated on a host without our server.
 */

const sw = self as unknown as ServiceWorkerGlobalScope;

sw.addEventListener("install", () => sw.skipWaiting());
sw.addEventListener("activate", (e) => e.waitUntil(sw.clients.claim()));

sw.addEventListener("fetch", (e) => {
  const req = e.request;
  if (new URL(req.url).origin !== sw.location.origin) return; // cross-origin: untouched (CORS applies)
  if (req.cache === "only-if-cached" && req.mode !== "same-origin") return;
  e.respondWith((async () => {
    const res = await fetch(req);
    if (res.status === 0 || res.type === "opaque") return res;
    const headers = new Headers(res.headers);
    headers.set("cross-origin-opener-policy", "same-origin");
    headers.set("cross-origin-embedder-policy", "require-corp");
    headers.set("cross-origin-resource-policy", "same-origin");
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers });
  })());
});
