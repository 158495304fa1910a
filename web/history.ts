/**
 * The turns sent to an engine: a failed turn (an answer that is only an error, e.g. the server
 * refused an image) is left out together with the question that caused it, so the next message
 * works instead of failing on the same input again.
 */

import type { ChatMessageRecord } from "./chat-types.ts";

export function requestHistory(conversation: ChatMessageRecord[]): ChatMessageRecord[] {
  const out: ChatMessageRecord[] = [];
  for (let i = 0; i < conversation.length; i++) {
    const m = conversation[i];
    const reply = conversation[i + 1];
    if (m.role === "user" && reply?.role === "assistant" && reply.error && !reply.text) {
      i++; // skip the question and its failed answer
      continue;
    }
    if (m.role === "assistant" && m.error && !m.text) continue;
    out.push(m);
  }
  return out;
}
