/**
 * Two replicas on the tiny pair behind Debian's nginx running deploy/nginx/nginx.conf (its `server`
 * and `listen` lines pointed here): 200 chat requests, plain and streamed, from 8 concurrent
 * clients; one replica gets SIGTERM mid-run. No request fails (the draining replica finishes what it
 * admitted, nginx retries the 503s it answers meanwhile on the other), the requests started after
 * its exit are all served by the other one, and the drained replica exits 0. Prints the requests
 * served per replica.
 */

import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { after, test } from "node:test";
import { models, ROOT } from "./helpers.ts";
import { chatBody, readEvents, type Replica, startReplica, waitFor } from "./replica.ts";

const NGINX = existsSync("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx"; // Debian's, outside a user's PATH
const m = models();
const MODEL = "tiny-llm";
const REQUESTS = 200;
const CLIENTS = 8;
/** requests completed before the first replica gets SIGTERM */
const STOP_AFTER = 60;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** deploy/nginx/nginx.conf with its upstream servers and listen port replaced, logs and temp files in `dir`. */
function nginxConf(dir: string, upstreams: string[], port: number): string {
  let conf = readFileSync(`${ROOT}/deploy/nginx/nginx.conf`, "utf8");
  const servers = [...conf.matchAll(/^\s*server 127\.0\.0\.1:\d+ (.*);$/gm)];
  assert.equal(servers.length, 2, "the conf names two upstream servers");
  const options = servers[0][1];
  conf = conf.replace(
    /(^\s*server 127\.0\.0\.1:\d+ .*;\n)+/m,
    upstreams.map((u) => `    server ${u} ${options};\n`).join(""),
  );
  assert.match(conf, /^\s*listen 8080;$/m);
  conf = conf.replace(/^(\s*)listen 8080;$/m, `$1listen 127.0.0.1:${port};`);
  const paths = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `  ${t}_temp_path ${dir}/${t};`);
  return `pid ${dir}/nginx.pid;\n` + conf.replace(
    /^http \{$/m,
    [
      "http {",
      `  log_format replicas '$http_x_test_id $upstream_addr $upstream_status $status';`,
      `  access_log ${dir}/access.log replicas;`,
      ...paths,
    ].join("\n"),
  );
}

/** When the replica's /health first says "draining" (or it is gone already). */
async function drainSeen(url: string): Promise<number> {
  for (;;) {
    const res = await fetch(`${url}/health`).catch(() => undefined);
    const status = res && (await res.json()).status;
    if (status !== "ok") return performance.now();
    await new Promise((r) => setTimeout(r, 5));
  }
}

const cleanup: (() => void)[] = [];
after(() => cleanup.forEach((f) => f()));

test("nginx in front of two replicas: SIGTERM one mid-run, no request fails, the other takes the new ones", async () => {
  const dir = mkdtempSync(`${tmpdir()}/mce-lb-`);
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const replicaArgs = ["--model", m.llm, "--parallel", "2", "--queue", "32", "--ctx-size", "2048", "--threads", "1"];
  const replicas: Replica[] = await Promise.all([startReplica(replicaArgs), startReplica(replicaArgs)]);
  cleanup.push(() => replicas.forEach((r) => r.kill()));
  await Promise.all(replicas.map((r) => r.ready));
  const upstreams = replicas.map((r) => new URL(r.url).host);

  const port = await freePort();
  writeFileSync(`${dir}/nginx.conf`, nginxConf(dir, upstreams, port));
  const nginx = spawn(NGINX, ["-p", dir, "-c", `${dir}/nginx.conf`, "-e", `${dir}/error.log`, "-g", "daemon off;"], {
    stdio: ["ignore", "inherit", "inherit"],
  });
  const nginxExited = new Promise((r) => nginx.on("close", r));
  cleanup.push(() => nginx.kill("SIGKILL"));
  const lb = `http://127.0.0.1:${port}`;
  await waitFor(`${lb}/health`, (status) => status === 200, 10_000);

  // 8 clients share 200 requests; every third one streams
  let next = 0, completed = 0, stoppedAt = Infinity, drainingAt = Infinity;
  const started = new Map<number, number>(); // request id -> start time
  const failures: string[] = [];
  let markStopped = () => {};
  const stopped = new Promise<void>((resolve) => (markStopped = resolve));
  const client = async () => {
    for (let id = next++; id < REQUESTS; id = next++) {
      const stream = id % 3 === 0;
      started.set(id, performance.now());
      try {
        const res = await fetch(`${lb}/v1/chat/completions`, {
          method: "POST",
          headers: { "content-type": "application/json", "x-test-id": String(id) },
          body: JSON.stringify({ ...chatBody(MODEL, 24, stream), seed: id }),
        });
        if (res.status !== 200) failures.push(`#${id}: ${res.status} ${await res.text()}`);
        else if (stream) {
          const { events, error } = await readEvents(res.body!.getReader());
          if (error || events.at(-1) !== "[DONE]") failures.push(`#${id}: stream ended with ${error ?? events.at(-1)}`);
        } else if ((await res.json()).usage.completion_tokens !== 24) failures.push(`#${id}: short answer`);
      } catch (e) {
        failures.push(`#${id}: ${e}`);
      }
      if (++completed === STOP_AFTER) {
        stoppedAt = performance.now();
        replicas[0].signal("SIGTERM");
        drainSeen(replicas[0].url).then((t) => (drainingAt = t)).finally(markStopped);
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, client));
  const seconds = (performance.now() - t0) / 1000;
  await stopped;
  const drainedExit = await replicas[0].exited;
  const exitedAt = performance.now();

  nginx.kill("SIGQUIT"); // graceful: flushes the access log
  await nginxExited;
  const log = readFileSync(`${dir}/access.log`, "utf8").trim().split("\n").map((l) => {
    const [id, ...rest] = l.split(" ");
    const status = rest.pop()!;
    // "$upstream_addr $upstream_status": "a:1, b:2 503, 200" when nginx tried a, then b
    const half = rest.length / 2;
    return {
      id: Number(id),
      tried: rest.slice(0, half).map((s) => s.replace(/,$/, "")),
      upstreamStatus: rest.slice(half).map((s) => s.replace(/,$/, "")),
      status,
    };
  }).filter((e) => !Number.isNaN(e.id) && e.id >= 0);
  const servedBy = (u: string) => log.filter((e) => e.status === "200" && e.tried.at(-1) === u).length;
  const retried = log.filter((e) => e.tried.length > 1);
  const afterExit = log.filter((e) => started.get(e.id)! > exitedAt);
  const afterStop = log.filter((e) => started.get(e.id)! > stoppedAt);
  console.log(
    `${REQUESTS} requests (${CLIENTS} clients, 1/3 streamed) in ${seconds.toFixed(1)} s: ` +
      `replica A (SIGTERM after ${STOP_AFTER}) served ${servedBy(upstreams[0])}, replica B ${
        servedBy(upstreams[1])
      }; ` +
      `${retried.length} retried by nginx (${retried.map((e) => e.upstreamStatus.join("/")).join(", ")}); ` +
      `failures: ${failures.length}; A exit status ${drainedExit}; ` +
      `${afterStop.filter((e) => e.tried.includes(upstreams[0])).length} of the ${afterStop.length} requests ` +
      `started after the SIGTERM were sent to A`,
  );
  assert.deepEqual(failures, []);
  assert.equal(log.length, REQUESTS);
  assert.equal(servedBy(upstreams[0]) + servedBy(upstreams[1]), REQUESTS);
  assert.ok(servedBy(upstreams[0]) > 0 && servedBy(upstreams[0]) < REQUESTS);
  assert.equal(drainedExit, 0, replicas[0].log());
  assert.match(replicas[0].log(), /drained; shutting down/);
  // once the first replica drains, new requests end on the second one
  assert.ok(afterStop.length > 0, "requests were started after the SIGTERM");
  assert.ok(afterExit.every((e) => e.tried.at(-1) === upstreams[1]));
  // (once it says "draining") they end on the second one, and nginx, having seen the first one's
  // 503 (max_fails=1), stops trying it for fail_timeout
  const afterDrainStarted = afterStop.filter((e) => started.get(e.id)! > drainingAt);
  assert.ok(afterDrainStarted.every((e) => e.tried.at(-1) === upstreams[1]));
  const triedDrained = afterDrainStarted.filter((e) => e.tried.includes(upstreams[0])).length;
  assert.ok(triedDrained <= CLIENTS, `${triedDrained} requests were sent to the draining replica`);
  // the metrics of the replica still running agree with nginx
  const metrics = await (await fetch(`${replicas[1].url}/metrics`)).text();
  const served = Number(
    /^minicpmv_requests_total\{route="\/v1\/chat\/completions",status="200"\} (\d+)$/m.exec(metrics)?.[1],
  );
  assert.equal(served, servedBy(upstreams[1]));
});
