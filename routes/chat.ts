/**
 * A chat request as both APIs need it: messages with images, constraints (JSON schema, forced
 * tool calls) turned into grammars, and the assistant output parsed into content, reasoning
 * and tool calls as it streams.
 */

import { AssistantOutputParser } from "../engine/ts/chat/output.ts";
import {
  checkGrammarSize,
  checkJsonSchema,
  checkToolSchemas,
  jsonDepth,
  SCHEMA_LIMITS,
} from "../engine/ts/chat/schema-limits.ts";
import { toolCallGrammar } from "../engine/ts/chat/tool-grammar.ts";
import type { ToolDef } from "../engine/ts/chat/tool-calls.ts";
import type { ChatOptions, ChatRun, ContentPart, Message, MiniCPMV } from "../engine/ts/minicpmv.ts";
import type { Vocabulary } from "../engine/ts/vocab.ts";
import { HttpError } from "./errors.ts";
import { checkPromptCanFit, checkPromptChars } from "./limits.ts";
import { startRerunnable } from "./rerun.ts";
import type { ModelService } from "./service.ts";

export type ToolChoice = "auto" | "none" | "required" | { name: string };

export interface ChatJob {
  messages: Message[];
  tools?: ToolDef[];
  toolChoice?: ToolChoice;
  thinking: boolean;
  /** several tool calls in one answer (default true) */
  parallelToolCalls?: boolean;
  /** constrain the output to JSON (any object) or to a JSON schema; `param`: the field it came from */
  json?: { schema?: unknown; param?: string };
  options: ChatOptions;
  signal: AbortSignal;
}

export interface StartedChat {
  run: ChatRun;
  output: AssistantOutputParser;
  vocab: Vocabulary;
}

/** Counts images and videos and rejects a request over either limit. */
export function checkMediaCount(messages: Message[], service: ModelService) {
  const { maxImages, maxVideos } = service.options;
  for (const [kind, max] of [["image", maxImages], ["video", maxVideos]] as const) {
    let n = 0;
    for (const m of messages) {
      if (Array.isArray(m.content)) n += m.content.filter((p: ContentPart) => p.type === kind).length;
    }
    if (n > max) {
      throw new HttpError(
        400,
        `the request has ${n} ${kind}s; this server accepts at most ${max}`,
        "invalid_request_error",
        "messages",
      );
    }
  }
}

/**
 * Prepares the prompt (images and videos encoded) and starts generating. A request the engine
 * crashed under before it generated runs again on the reloaded model (rerun.ts).
 */
export async function startChat(service: ModelService, job: ChatJob): Promise<StartedChat> {
  // the request's own size first: refused before the model is touched
  checkPromptChars(job.messages, job.tools);
  if (job.tools?.length) checkToolSchemas(job.tools);
  const jsonParam = job.json?.param ?? "response_format";
  const schemaJson = job.json ? checkJsonSchema(job.json.schema ?? { type: "object" }, jsonParam) : undefined;
  const choice = job.toolChoice ?? "auto";
  const tools = job.tools?.length && choice !== "none" ? job.tools : undefined;
  let vocab: Vocabulary | undefined;
  const run = await startRerunnable(service, job.signal, (mm) => {
    vocab = mm.model.vocab;
    return startChatOn(mm, service, job, { jsonParam, schemaJson, choice, tools });
  });
  const output = new AssistantOutputParser({
    thinking: job.thinking,
    tools,
    repairNewlines: service.options.repairNewlines,
  });
  return { run, output, vocab: vocab! };
}

/** One run of a chat request on a loaded model: its checks, grammar and prompt, then generation. */
async function startChatOn(
  mm: MiniCPMV,
  service: ModelService,
  job: ChatJob,
  { jsonParam, schemaJson, choice, tools }: {
    jsonParam: string;
    schemaJson: string | undefined;
    choice: ToolChoice;
    tools: ToolDef[] | undefined;
  },
): Promise<ChatRun> {
  checkPromptCanFit(job.messages, mm.model.vocab, mm.context.sequenceSize);
  checkMediaCount(job.messages, service);
  if (typeof choice === "object" && !tools?.some((t) => t.function.name === choice.name)) {
    throw new HttpError(
      400,
      `tool_choice names '${choice.name}', which is not in tools`,
      "invalid_request_error",
      "tool_choice",
    );
  }
  if ((choice === "required" || typeof choice === "object") && !tools) {
    throw new HttpError(
      400,
      `tool_choice '${typeof choice === "object" ? choice.name : choice}' needs tools`,
      "invalid_request_error",
      "tool_choice",
    );
  }
  // remote media: the same policy for images and videos, each with its own size cap
  const fetchLimits = (maxBytes: number) => ({
    maxBytes,
    timeoutMs: service.options.imageFetchTimeoutMs,
    allowFiles: service.options.mediaDir !== undefined,
    allowPrivate: service.options.allowPrivateUrls === true,
    signal: job.signal,
  });
  const options: ChatOptions = {
    ...job.options,
    enableThinking: job.thinking,
    tools,
    signal: job.signal,
    fetch: fetchLimits(service.options.maxImageBytes),
    videoFetch: fetchLimits(service.options.maxVideoBytes),
    videoLimits: { maxDurationSeconds: service.options.maxVideoSeconds },
  };
  if (job.json && tools && choice !== "auto") {
    throw new HttpError(
      400,
      "response_format and a forced tool_choice cannot be combined",
      "invalid_request_error",
      "response_format",
    );
  }
  if (schemaJson !== undefined) {
    options.grammar = await mm.engine.call("jsonSchemaToGrammar", schemaJson);
    checkGrammarSize(options.grammar, jsonParam);
  } else if (tools && choice !== "auto") {
    const forced = typeof choice === "object" ? tools.filter((t) => t.function.name === choice.name) : tools;
    options.grammar = toolCallGrammar(forced, { parallel: job.parallelToolCalls ?? true, thinking: job.thinking });
  } else if (tools) {
    // free text, but a call, once started, must be a well-formed call to a known tool
    const trigger = mm.model.vocab.idOf("<tool_call>");
    if (trigger !== undefined) {
      options.grammar = toolCallGrammar(tools, { parallel: job.parallelToolCalls ?? true });
      options.grammarTriggerToken = trigger;
    }
  }
  if (tools && options.grammar) checkGrammarSize(options.grammar, "tools");
  const run = await mm.chat(job.messages, options);
  checkPromptFits(run.promptTokens, mm.context.sequenceSize);
  return run;
}

/** Assistant tool calls in request history carry JSON-string arguments; templates want objects. */
export function parseHistoryArguments(args: unknown, param: string): unknown {
  let value = args;
  if (typeof args === "string") {
    try {
      value = JSON.parse(args);
    } catch {
      throw new HttpError(400, `tool call arguments are not valid JSON`, "invalid_request_error", param);
    }
  }
  // the template serializes them recursively
  const maxDepth = SCHEMA_LIMITS.maxJsonDepth;
  if (jsonDepth(value, maxDepth) > maxDepth) {
    throw new HttpError(
      400,
      `tool call arguments nest more than ${maxDepth} levels of JSON (limit maxJsonDepth)`,
      "invalid_request_error",
      param,
    );
  }
  return value;
}

/** A prompt that does not fit a sequence is refused before any response is sent. */
export function checkPromptFits(promptTokens: number, sequenceSize: number) {
  if (promptTokens >= sequenceSize) {
    throw new HttpError(
      400,
      `the prompt has ${promptTokens} tokens (images included); a request can use at most ${sequenceSize - 1} ` +
        "(the context size divided by --parallel)",
      "invalid_request_error",
      "messages",
      "context_length_exceeded",
    );
  }
}
