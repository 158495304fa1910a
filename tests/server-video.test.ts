/**
 * Video through the HTTP API (one server on Node, the bundle users start with `npm start`):
 * vLLM's `video_url` and llama-server's `input_video` parts, `mm_processor_kwargs` for frames and
 * stacking, `usage.prompt_tokens_details.video_tokens`, streaming, a forced tool call and a JSON
 * schema with a video in the prompt, local paths under --media-dir, http(s) URLs with the size
 * cap, and bad videos answered 400 while the server keeps serving.
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { basename, dirname } from "node:path";
import { after, before, test } from "node:test";
import OpenAI from "openai";
import { planVideo } from "../mod.ts";
import { models, startServer, testMedia, type TestServer } from "./helpers.ts";

const MODEL = "tiny";
let server: TestServer;
let openai: OpenAI;
let files: Server;
let filesUrl = "";

const clip = testMedia("h264-baseline.mp4"); // 5 s, 352x288, 25 fps
const dataUrl = (file: string, type = "video/mp4") => `data:${type};base64,${readFileSync(file).toString("base64")}`;

before(async () => {
  server = await startServer("node", [
    "--model",
    models().llm,
    "--mmproj",
    models().mmproj16x,
    "--model-name",
    MODEL,
    "--ctx-size",
    "4096",
    "--threads",
    "2",
    "--media-dir",
    dirname(clip),
    "--max-video-mb",
    "1",
    "--allow-private-urls", // the video URLs below are on 127.0.0.1
  ]);
  openai = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: "unused", maxRetries: 0 });
  files = createServer((req, res) => {
    if (req.url === "/clip.mp4") res.writeHead(200, { "content-type": "video/mp4" }).end(readFileSync(clip));
    else if (req.url === "/big.mp4") res.writeHead(200).end(new Uint8Array(2_000_000));
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => files.listen(0, "127.0.0.1", r));
  filesUrl = `http://127.0.0.1:${(files.address() as { port: number }).port}`;
});
after(async () => {
  await server?.stop();
  files?.close();
});

const post = async (body: Record<string, unknown>) => {
  const res = await fetch(`${server.url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: MODEL, temperature: 0, max_tokens: 4, ...body }),
  });
  return { status: res.status, body: await res.json() };
};
const videoMessage = (part: Record<string, unknown>, text = "What happens?") => [
  { role: "user", content: [part, { type: "text", text }] },
];

test("video_url (data URL, local path, http URL) and input_video give the same answer and video tokens", async () => {
  const expected = planVideo({ durationSeconds: 5, fps: 25, frameCount: 125, width: 352, height: 288 }).videoTokens;
  const forms = [
    { type: "video_url", video_url: { url: dataUrl(clip) } },
    { type: "video_url", video_url: { url: basename(clip) } },
    { type: "video_url", video_url: `${filesUrl}/clip.mp4` },
    { type: "input_video", input_video: { data: readFileSync(clip).toString("base64"), format: "mp4" } },
  ];
  const answers: string[] = [];
  for (const part of forms) {
    const r = await post({ messages: videoMessage(part) });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.usage.prompt_tokens_details.video_tokens, expected, JSON.stringify(part).slice(0, 80));
    answers.push(r.body.choices[0].message.content);
  }
  assert.ok(answers.every((a) => a === answers[0]), JSON.stringify(answers));
});

test("mm_processor_kwargs: max_num_frames and stack_frames per request; streaming reports video tokens", async () => {
  const meta = { durationSeconds: 5, fps: 25, frameCount: 125, width: 352, height: 288 };
  const params = {
    model: MODEL,
    messages: videoMessage({ type: "video_url", video_url: { url: dataUrl(clip) } }),
    temperature: 0,
    max_tokens: 4,
    stream: true,
    stream_options: { include_usage: true },
    mm_processor_kwargs: { max_num_frames: 3, stack_frames: 3 }, // vLLM's extension
  };
  const stream = await openai.chat.completions.create(params as unknown as OpenAI.ChatCompletionCreateParamsStreaming);
  let usage: OpenAI.CompletionUsage | undefined;
  let text = "";
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? "";
    usage = chunk.usage ?? usage;
  }
  assert.ok(text.length > 0);
  const details = usage?.prompt_tokens_details as { video_tokens?: number };
  assert.equal(details.video_tokens, planVideo(meta, { maxNumFrames: 3, stackFrames: 3 }).videoTokens);
});

test("a forced tool call and a JSON schema with a video in the prompt", async () => {
  const part = { type: "video_url", video_url: { url: dataUrl(clip) } };
  const tool = await post({
    messages: videoMessage(part, "Weather where this was filmed?"),
    max_tokens: 60,
    tools: [{
      type: "function",
      function: {
        name: "get_weather",
        parameters: {
          type: "object",
          properties: { city: { type: "string", enum: ["Paris", "Tokyo"] } },
          required: ["city"],
        },
      },
    }],
    tool_choice: { type: "function", function: { name: "get_weather" } },
  });
  assert.equal(tool.status, 200, JSON.stringify(tool.body));
  assert.equal(tool.body.choices[0].message.tool_calls[0].function.name, "get_weather");
  const json = await post({
    messages: videoMessage(part, "Describe as JSON."),
    max_tokens: 60,
    response_format: {
      type: "json_schema",
      json_schema: {
        name: "d",
        schema: {
          type: "object",
          properties: { n: { type: "integer" } },
          required: ["n"],
          additionalProperties: false,
        },
      },
    },
  });
  assert.equal(json.status, 200, JSON.stringify(json.body));
  assert.ok(Number.isInteger(JSON.parse(json.body.choices[0].message.content).n));
});

test("bad videos are 400s with the reason; the server keeps serving", async () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      "not a video",
      { type: "video_url", video_url: { url: "data:video/mp4;base64,aGVsbG8gd29ybGQ=" } },
      /not a video/i,
    ],
    [
      "audio only",
      { type: "video_url", video_url: { url: dataUrl(testMedia("audio.m4a"), "audio/mp4") } },
      /no video/i,
    ],
    [
      "unsupported codec",
      { type: "video_url", video_url: { url: dataUrl(testMedia("mpeg4.mp4")) } },
      /unsupported codec/,
    ],
    ["outside --media-dir", { type: "video_url", video_url: { url: "/etc/passwd" } }, /outside the media directory/],
    ["too big (--max-video-mb 1)", { type: "video_url", video_url: `${filesUrl}/big.mp4` }, /limit is 1000000|exceeds/],
    ["missing URL", { type: "video_url", video_url: `${filesUrl}/missing.mp4` }, /HTTP 404/],
    ["malformed part", { type: "video_url", video_url: { href: "x" } }, /messages\.0\.content/],
  ];
  for (const [name, part, message] of cases) {
    const r = await post({ messages: videoMessage(part) });
    assert.equal(r.status, 400, `${name}: ${JSON.stringify(r.body)}`);
    assert.match(`${r.body.error.message} ${r.body.error.param}`, message, name);
    assert.equal(r.body.error.type, "invalid_request_error");
  }
  const r = await post({
    messages: videoMessage({ type: "video_url", video_url: { url: dataUrl(clip) } }),
    max_tokens: 2,
  });
  assert.equal(r.status, 200);
  const bad = await post({
    messages: videoMessage({ type: "video_url", video_url: "x" }),
    mm_processor_kwargs: { stack_frames: 0 },
  });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.param, /stack_frames/);
});
