/**
 * The HTTP server on Deno, Bun and Node, driven by the official `openai` and `ollama` npm
 * clients: text, image and streaming chats, tool calls, JSON schema, concurrency (continuous
 * batching gives the same greedy text as running alone, 429 past the queue, an aborted stream
 * frees its slot), input refused once the model is at work (unreachable or non-image URLs, a
 * prompt over the context), and the serve flags (API key, CORS origin) reaching the app. The
 * errors answered before a model is touched are tests/unit/http-errors.test.ts, in-process.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { after, before, test } from "node:test";
import { Ollama } from "ollama";
import OpenAI from "openai";
import { Engine, MiniCPMV, planImage } from "../mod.ts";
import { cliCommand, models, run, type RuntimeName, startServer, type TestServer } from "./helpers.ts";

const KEY = "sekret";
const ORIGIN = "http://example.test";
const MODEL = "tiny-llm";
const m = models();
const jpeg = readFileSync(m.testJpeg);
const jpegDataUrl = `data:image/jpeg;base64,${jpeg.toString("base64")}`;

const weatherTool = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Weather forecast for a city",
    parameters: {
      type: "object",
      // an enum keeps the random tiny model's string short (the grammar allows only these)
      properties: { city: { type: "string", enum: ["Paris", "London", "Tokyo"] }, days: { type: "integer" } },
      required: ["city", "days"],
    },
  },
};

const personSchema = {
  type: "object",
  properties: { name: { type: "string", maxLength: 8 }, age: { type: "integer" } },
  required: ["name", "age"],
  additionalProperties: false,
};

// A local HTTP server for image URLs: the JPEG, a text file, and 404s.
let media: Server;
let mediaUrl = "";
// The greedy answer of the library itself, which the server must reproduce.
let expectedText = "";

before(async () => {
  media = createServer((req, res) => {
    if (req.url === "/cat.jpg") res.writeHead(200, { "content-type": "image/jpeg" }).end(jpeg);
    else if (req.url === "/notes.txt") {
      res.writeHead(200, { "content-type": "text/plain" }).end("just some text, not an image");
    } else res.writeHead(404).end();
  });
  await new Promise<void>((r) => media.listen(0, "127.0.0.1", r));
  mediaUrl = `http://127.0.0.1:${(media.address() as { port: number }).port}`;

  const engine = await Engine.create({ threads: 2, logLevel: "error" });
  try {
    const mm = await MiniCPMV.load(engine, { model: m.llm, mmproj: m.mmproj16x });
    const run = await mm.chat([{ role: "user", content: "Say hello." }], { temperature: 0, maxTokens: 12 });
    expectedText = (await run.generation.result).text;
  } finally {
    engine.terminate();
  }
});

after(() => new Promise<void>((r) => media.close(() => r())));

async function collect(stream: AsyncIterable<OpenAI.Chat.Completions.ChatCompletionChunk>) {
  let content = "";
  const calls: { id?: string; name?: string; arguments: string }[] = [];
  let finish: string | null = null;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (!c) continue;
    content += c.delta.content ?? "";
    for (const t of c.delta.tool_calls ?? []) {
      calls[t.index] ??= { arguments: "" };
      if (t.id) calls[t.index].id = t.id;
      if (t.function?.name) calls[t.index].name = t.function.name;
      calls[t.index].arguments += t.function?.arguments ?? "";
    }
    finish = c.finish_reason ?? finish;
  }
  return { content, calls, finish };
}

async function post(url: string, path: string, body: unknown, headers: Record<string, string> = {}) {
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  const res = await fetch(url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: raw,
  });
  return { status: res.status, headers: res.headers, body: await res.json().catch(() => null) };
}

async function metric(url: string, name: string, headers: Record<string, string>): Promise<number> {
  const text = await (await fetch(`${url}/metrics`, { headers })).text();
  return Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1]);
}

for (const runtime of (process.env.MCE_SERVER_RUNTIMES?.split(",") ?? ["deno", "bun", "node"]) as RuntimeName[]) {
  // Deno and Bun require the key; Node runs without one (both ways tested).
  const withKey = runtime !== "node";
  const auth: Record<string, string> = withKey ? { authorization: `Bearer ${KEY}` } : {};
  let server: TestServer;
  let openai: OpenAI;
  let ollama: Ollama;
  /** the request whose greedy answer is `expectedText` */
  const sayHello = () =>
    openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Say hello." }],
      temperature: 0,
      max_tokens: 12,
    });
  const chat = (body: Record<string, unknown>) =>
    post(server.url, "/v1/chat/completions", { model: MODEL, ...body }, auth);

  test(`${runtime}: server starts and serves /health and /v1/models`, async () => {
    server = await startServer(runtime, [
      "--model",
      m.llm,
      "--mmproj",
      m.mmproj16x,
      "--parallel",
      "4",
      "--queue",
      "4",
      "--ctx-size",
      "4096",
      "--threads",
      "2",
      "--cors-origin",
      ORIGIN,
      "--media-dir",
      m.dir,
      "--allow-private-urls", // the image URLs are on 127.0.0.1
    ], withKey ? { MINICPMV_EDGE_API_KEY: KEY } : {});
    openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: withKey ? KEY : "unused", maxRetries: 0 });
    ollama = new Ollama({ host: server.url, headers: auth });
    assert.deepEqual(await (await fetch(`${server.url}/health`)).json(), { status: "ok" });
    const list = await openai.models.list();
    assert.deepEqual(list.data.map((d) => d.id), [MODEL]);
  });

  test(`${runtime}: openai text chat gives the library's greedy answer`, async () => {
    const r = await sayHello();
    assert.equal(r.choices[0].message.content, expectedText);
    assert.ok(
      r.usage && r.usage.completion_tokens > 0 &&
        r.usage.total_tokens === r.usage.prompt_tokens + r.usage.completion_tokens,
    );
  });

  test(`${runtime}: openai streaming chat equals the non-streamed one`, async () => {
    const stream = await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Say hello." }],
      temperature: 0,
      max_tokens: 12,
      stream: true,
      stream_options: { include_usage: true },
    });
    const r = await collect(stream);
    assert.equal(r.content, expectedText);
    assert.ok(r.finish === "stop" || r.finish === "length");
  });

  test(`${runtime}: openai image chat (data URL, http URL, media dir) counts image tokens`, async () => {
    const ask = async (url: string, mode?: "16x" | "4x") => {
      const body = {
        model: MODEL,
        messages: [{
          role: "user" as const,
          content: [{ type: "image_url" as const, image_url: { url } }, {
            type: "text" as const,
            text: "What is this?",
          }],
        }],
        temperature: 0,
        max_tokens: 6,
        ...(mode ? { mm_processor_kwargs: { downsample_mode: mode } } : {}),
      };
      return await openai.chat.completions.create(body as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming);
    };
    const viaData = await ask(jpegDataUrl);
    const details = viaData.usage?.prompt_tokens_details as { image_tokens?: number } | undefined;
    assert.equal(details?.image_tokens, planImage({ width: 640, height: 488 }, { downsampleMode: "16x" }).imageTokens);
    const viaHttp = await ask(`${mediaUrl}/cat.jpg`);
    const viaFile = await ask("test-1.jpeg");
    assert.equal(viaHttp.choices[0].message.content, viaData.choices[0].message.content);
    assert.equal(viaFile.choices[0].message.content, viaData.choices[0].message.content);
    const in4x = await ask(jpegDataUrl, "4x");
    const details4x = in4x.usage?.prompt_tokens_details as { image_tokens?: number };
    assert.equal(details4x.image_tokens, planImage({ width: 640, height: 488 }, { downsampleMode: "4x" }).imageTokens);
  });

  test(`${runtime}: openai forced tool call, non-streaming and streaming`, async () => {
    const params = {
      model: MODEL,
      messages: [{ role: "user" as const, content: "Weather in Paris for 2 days?" }],
      temperature: 0,
      max_tokens: 60,
      tools: [weatherTool],
      tool_choice: { type: "function" as const, function: { name: "get_weather" } },
      parallel_tool_calls: false,
    };
    const r = await openai.chat.completions.create(params);
    const call = r.choices[0].message.tool_calls?.[0] as OpenAI.Chat.ChatCompletionMessageFunctionToolCall;
    assert.equal(r.choices[0].finish_reason, "tool_calls");
    assert.equal(call.function.name, "get_weather");
    assert.equal(r.choices[0].message.tool_calls?.length, 1);
    const args = JSON.parse(call.function.arguments);
    assert.equal(typeof args.city, "string");
    assert.ok(Number.isInteger(args.days), call.function.arguments);

    const s = await collect(await openai.chat.completions.create({ ...params, stream: true }));
    assert.equal(s.finish, "tool_calls");
    assert.equal(s.calls.length, 1);
    assert.equal(s.calls[0].name, "get_weather");
    assert.deepEqual(JSON.parse(s.calls[0].arguments), args);
    assert.match(s.calls[0].id ?? "", /^call_/);
  });

  test(`${runtime}: openai response_format json_schema gives valid JSON`, async () => {
    const r = await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "A person as JSON." }],
      temperature: 0,
      max_tokens: 200,
      response_format: { type: "json_schema", json_schema: { name: "person", schema: personSchema } },
    });
    const v = JSON.parse(r.choices[0].message.content ?? "");
    assert.deepEqual(Object.keys(v).sort(), ["age", "name"]);
    assert.equal(typeof v.name, "string");
    assert.ok(v.name.length <= 8);
    assert.ok(Number.isInteger(v.age));
  });

  test(`${runtime}: openai logprobs, json_object, thinking (reasoning_content), ollama version`, async () => {
    const lp = await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Say hello." }],
      temperature: 0,
      max_tokens: 6,
      logprobs: true,
      top_logprobs: 3,
    });
    const entries = lp.choices[0].logprobs?.content ?? [];
    assert.equal(entries.length, lp.usage?.completion_tokens);
    for (const e of entries) {
      assert.equal(e.top_logprobs.length, 3);
      assert.ok(e.logprob <= 0 && e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob);
      assert.equal(e.logprob, e.top_logprobs[0].logprob, "greedy picks the most likely token");
    }

    const obj = await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "JSON please." }],
      temperature: 0,
      max_tokens: 120,
      response_format: { type: "json_object" },
    });
    if (obj.choices[0].finish_reason === "stop") {
      assert.equal(typeof JSON.parse(obj.choices[0].message.content ?? ""), "object");
    } else assert.match(obj.choices[0].message.content ?? "", /^\s*\{/);

    const think = await openai.chat.completions.create({
      model: MODEL,
      messages: [{ role: "user", content: "Think first." }],
      temperature: 0,
      max_tokens: 8,
      chat_template_kwargs: { enable_thinking: true },
    } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming);
    // the prompt opened <think>: the (random) model's text is reasoning until it writes </think>
    const reasoning = (think.choices[0].message as { reasoning_content?: string }).reasoning_content ?? "";
    assert.ok(reasoning.length > 0, JSON.stringify(think.choices[0].message));

    assert.match((await ollama.version()).version, /^\d+\.\d+\.\d+$/);
  });

  test(`${runtime}: ollama chat, image, streaming, tool call and format`, async () => {
    const text = await ollama.chat({
      model: MODEL,
      messages: [{ role: "user", content: "Say hello." }],
      options: { temperature: 0, num_predict: 12 },
      stream: false,
    });
    assert.equal(text.message.content, expectedText);
    assert.ok(text.done && text.eval_count > 0 && text.prompt_eval_count > 0);

    let streamed = "";
    for await (
      const part of await ollama.chat({
        model: MODEL,
        messages: [{ role: "user", content: "Say hello." }],
        options: { temperature: 0, num_predict: 12 },
        stream: true,
      })
    ) {
      streamed += part.message.content;
    }
    assert.equal(streamed, expectedText);

    const image = await ollama.chat({
      model: MODEL,
      stream: false,
      options: { temperature: 0, num_predict: 6 },
      messages: [{ role: "user", content: "What is this?", images: [jpeg.toString("base64")] }],
    });
    assert.equal(typeof image.message.content, "string");
    assert.ok(image.prompt_eval_count > 128, `image prompt has ${image.prompt_eval_count} tokens`);

    const tool = await ollama.chat(
      {
        model: MODEL,
        stream: false,
        options: { temperature: 0, num_predict: 80 },
        messages: [{ role: "user", content: "Weather in Paris?" }],
        tools: [weatherTool],
        tool_choice: "get_weather", // extension, as OpenAI's tool_choice
      } as Parameters<Ollama["chat"]>[0] & { stream: false },
    );
    assert.equal(tool.message.tool_calls?.[0].function.name, "get_weather");
    assert.ok(Number.isInteger(tool.message.tool_calls?.[0].function.arguments.days));

    const json = await ollama.generate({
      model: MODEL,
      prompt: "A person as JSON.",
      format: personSchema,
      options: { temperature: 0, num_predict: 200 },
      stream: false,
    });
    const v = JSON.parse(json.response ?? "");
    assert.deepEqual(Object.keys(v).sort(), ["age", "name"]);

    const tags = await ollama.list();
    assert.deepEqual(tags.models.map((t) => t.name), [MODEL]);
    const show = await ollama.show({ model: MODEL });
    assert.ok(show.capabilities.includes("vision"));
  });

  test(`${runtime}: 4 concurrent streams give the same greedy text as alone`, async () => {
    const prompts = ["Count to five.", "Name a colour.", "Write a haiku.", "Hello there!"];
    const one = async (content: string) =>
      (await collect(
        await openai.chat.completions.create({
          model: MODEL,
          messages: [{ role: "user", content }],
          temperature: 0,
          max_tokens: 24,
          stream: true,
          ignore_eos: true,
        } as OpenAI.Chat.ChatCompletionCreateParamsStreaming),
      )).content;
    const alone = [];
    for (const p of prompts) alone.push(await one(p));
    const together = await Promise.all(prompts.map(one));
    assert.deepEqual(together, alone);
    assert.ok(new Set(alone).size > 1, "different prompts should give different texts");
  });

  test(`${runtime}: requests past parallel + queue get 429; aborted streams free their slots`, async () => {
    const long = (signal: AbortSignal) =>
      fetch(`${server.url}/v1/chat/completions`, {
        method: "POST",
        signal,
        headers: { "content-type": "application/json", ...auth },
        body: JSON.stringify({
          model: MODEL,
          messages: [{ role: "user", content: "Go on forever." }],
          max_tokens: 900,
          ignore_eos: true,
          stream: true,
          temperature: 0,
        }),
      });
    const aborts = Array.from({ length: 8 }, () => new AbortController());
    try {
      const responses = aborts.map((a) => long(a.signal).then((r) => r, () => undefined));
      const settled = async () =>
        (await metric(server.url, "minicpmv_requests_active", auth)) === 4 &&
        (await metric(server.url, "minicpmv_queue_depth", auth)) === 4;
      for (let i = 0; i < 400 && !(await settled()); i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await metric(server.url, "minicpmv_requests_active", auth), 4);
      assert.equal(await metric(server.url, "minicpmv_queue_depth", auth), 4);
      const busy = await chat({ messages: [{ role: "user", content: "hi" }], max_tokens: 2 });
      assert.equal(busy.status, 429);
      assert.equal(busy.body.error.type, "rate_limit_error");
      assert.ok(busy.headers.get("retry-after"));

      // free the queue, then abort one running stream: a new request must run at once, while the
      // other three (hundreds of tokens to go) are still generating
      for (const a of aborts.slice(4)) a.abort();
      await Promise.all(responses.slice(4));
      (await responses[0])?.body?.cancel();
      aborts[0].abort();
      // the server notices the disconnects (at its next write for a running stream)
      const freed = async () =>
        (await metric(server.url, "minicpmv_requests_active", auth)) === 3 &&
        (await metric(server.url, "minicpmv_queue_depth", auth)) === 0;
      for (let i = 0; i < 200 && !(await freed()); i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await metric(server.url, "minicpmv_queue_depth", auth), 0, "cancelled requests left the queue");
      assert.equal(
        await metric(server.url, "minicpmv_requests_active", auth),
        3,
        "the cancelled stream freed its sequence",
      );
      let othersDone = false;
      const others = Promise.all(responses.slice(1, 4).map(async (r) => await (await r)?.text())).then(
        () => (othersDone = true),
      );
      const quick = await chat({ messages: [{ role: "user", content: "hi" }], max_tokens: 2, temperature: 0 });
      assert.equal(quick.status, 200);
      assert.equal(othersDone, false, "the new request waited for a running one to finish");
      for (const a of aborts) a.abort();
      await others.catch(() => {});
    } finally {
      for (const a of aborts) a.abort();
    }
    for (let i = 0; i < 100 && (await metric(server.url, "minicpmv_requests_active", auth)) > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(await metric(server.url, "minicpmv_requests_active", auth), 0);
  });

  test(`${runtime}: bad images and an over-long prompt get a clear 4xx and the server keeps serving`, async () => {
    const bad = async (body: unknown, status: number, pattern: RegExp) => {
      const r = await post(server.url, "/v1/chat/completions", body, auth);
      assert.equal(r.status, status, JSON.stringify(r.body));
      assert.match(r.body.error.message, pattern);
      assert.equal(typeof r.body.error.type, "string");
    };
    const user = (content: unknown) => ({ model: MODEL, messages: [{ role: "user", content }] });
    await bad(user([{ type: "image_url", image_url: { url: `${mediaUrl}/missing.jpg` } }]), 400, /HTTP 404/);
    await bad(user([{ type: "image_url", image_url: { url: `${mediaUrl}/notes.txt` } }]), 400, /image/i);
    await bad(user("hello ".repeat(1500)), 400, /at most 1023/);
    const r = await sayHello();
    assert.equal(r.choices[0].message.content, expectedText);
  });

  test(`${runtime}: API key ${withKey ? "required" : "off"}; --cors-origin; tokenize; metrics`, async () => {
    const noKey = await post(server.url, "/v1/chat/completions", {
      model: MODEL,
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 1,
    });
    if (withKey) {
      assert.equal(noKey.status, 401);
      assert.equal(noKey.body.error.type, "authentication_error");
    } else assert.equal(noKey.status, 200);
    const tok = await post(server.url, "/tokenize", { content: "Hello world" }, auth);
    const detok = await post(server.url, "/detokenize", { tokens: tok.body.tokens }, auth);
    assert.equal(detok.body.content, "Hello world");

    const pre = await fetch(`${server.url}/v1/chat/completions`, {
      method: "OPTIONS",
      headers: {
        origin: ORIGIN,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
      },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), ORIGIN);
    const metrics = await (await fetch(`${server.url}/metrics`, { headers: auth })).text();
    assert.match(metrics, /minicpmv_requests_total\{route="\/v1\/chat\/completions",status="200"\} \d+/);
    assert.match(metrics, /minicpmv_completion_tokens_total [1-9]/);
  });

  test(`${runtime}: server stops cleanly`, async () => {
    await server.stop();
  });
}

test("serve without --model fetches the official pair; an unreachable hub fails fast and says what to do", async () => {
  const [cmd, pre] = cliCommand("node");
  const cache = `${process.env.TMPDIR ?? "/tmp"}/mce-serve-nohub-${process.pid}`;
  const t0 = performance.now();
  const r = await run(cmd, [...pre, "serve", "--port", "0"], {
    env: { HF_ENDPOINT: "http://127.0.0.1:9", MINICPMV_EDGE_CACHE: cache },
    timeoutMs: 30_000,
  });
  assert.equal(r.code, 1, r.stderr);
  assert.ok(performance.now() - t0 < 15_000, "fails within seconds");
  assert.match(r.stderr, /openbmb\/MiniCPM-V-4\.6-gguf/);
  assert.match(r.stderr, /--model FILE\.gguf/);
});
