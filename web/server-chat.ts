/**
 * The server engine: the conversation as an OpenAI chat request (images and videos as data URLs,
 * the per-message settings as `mm_processor_kwargs` and `chat_template_kwargs`) streamed from our
 * own /v1/chat/completions, its SSE deltas turned into AnswerEvents. An error answer (4xx/5xx)
 * throws with the server's message, which the page shows.
 */

import type { AnswerEvent, ChatBackend, ChatMessageRecord, TurnSettings } from "./chat-types.ts";
import { sseData } from "./sse.ts";

function dataUrl(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result as string);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

async function openaiMessages(messages: ChatMessageRecord[]) {
  const out = [];
  for (const m of messages) {
    if (m.role === "assistant") {
      out.push({ role: "assistant", content: m.text });
      continue;
    }
    const parts: Record<string, unknown>[] = [];
    for (const a of m.attachments ?? []) {
      const url = await dataUrl(a.blob);
      parts.push(
        a.type.startsWith("video/") ? { type: "video_url", video_url: { url } } : {
          type: "image_url",
          image_url: { url },
        },
      );
    }
    parts.push({ type: "text", text: m.text });
    out.push({ role: "user", content: parts });
  }
  return out;
}

/** The error message of a failed API response (OpenAI-style body, else the status). */
async function errorMessage(res: Response): Promise<string> {
  const text = await res.text();
  try {
    const body = JSON.parse(text);
    return body?.error?.message ?? body?.error ?? `HTTP ${res.status}`;
  } catch {
    return `HTTP ${res.status}: ${text.slice(0, 200)}`;
  }
}

export class ServerChat implements ChatBackend {
  readonly label = "server";
  private modelId: string | undefined;

  constructor(private readonly base: URL, private readonly apiKey: () => string) {}

  private headers(): Record<string, string> {
    const key = this.apiKey();
    return { "content-type": "application/json", ...(key ? { authorization: `Bearer ${key}` } : {}) };
  }

  private async model(signal: AbortSignal): Promise<string> {
    if (this.modelId) return this.modelId;
    const res = await fetch(new URL("v1/models", this.base), { headers: this.headers(), signal });
    if (!res.ok) throw new Error(await errorMessage(res));
    this.modelId = (await res.json()).data[0].id as string;
    return this.modelId;
  }

  async *answer(messages: ChatMessageRecord[], s: TurnSettings, signal: AbortSignal): AsyncGenerator<AnswerEvent> {
    const body = {
      model: await this.model(signal),
      messages: await openaiMessages(messages),
      stream: true,
      stream_options: { include_usage: true },
      chat_template_kwargs: { enable_thinking: s.thinking },
      mm_processor_kwargs: { downsample_mode: s.downsampleMode, max_slice_nums: s.maxSliceNums },
    };
    const res = await fetch(new URL("v1/chat/completions", this.base), {
      method: "POST",
      headers: this.headers(),
      body: JSON.stringify(body),
      signal,
    });
    if (!res.ok || !res.body) throw new Error(await errorMessage(res));
    let tokensPerSecond: number | undefined;
    for await (const data of sseData(res.body)) {
      if (data === "[DONE]") break;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(chunk.error.message ?? String(chunk.error));
      if (chunk.timings?.predicted_per_second) tokensPerSecond = chunk.timings.predicted_per_second;
      const delta = chunk.choices?.[0]?.delta;
      if (delta?.reasoning_content) yield { type: "reasoning", text: delta.reasoning_content };
      if (delta?.content) yield { type: "content", text: delta.content };
      for (const t of delta?.tool_calls ?? []) {
        yield { type: "tool_call", index: t.index, name: t.function?.name, arguments: t.function?.arguments ?? "" };
      }
      if (chunk.usage) {
        const details = chunk.usage.prompt_tokens_details ?? {};
        yield {
          type: "usage",
          promptTokens: chunk.usage.prompt_tokens,
          completionTokens: chunk.usage.completion_tokens,
          imageTokens: details.image_tokens ?? 0,
          videoTokens: details.video_tokens ?? 0,
          tokensPerSecond,
        };
      }
    }
  }
}
