/**
 * One message of the conversation as DOM: the user's text and media thumbnails; the assistant's
 * reasoning folded in a <details>, its answer as sanitised Markdown, tool calls shown as calls,
 * an error in its own colour, and the stats line. Re-rendered while an answer streams.
 */

import type { ChatMessageRecord } from "./chat-types.ts";
import { formatStats } from "./format.ts";
import { renderMarkdown } from "./markdown.ts";

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

const previews = new WeakMap<Blob, string>();
/** One object URL per attachment Blob for the page's life (thumbnails are re-rendered). */
function previewUrl(blob: Blob): string {
  let url = previews.get(blob);
  if (!url) previews.set(blob, url = URL.createObjectURL(blob));
  return url;
}

export function mediaThumbnails(m: ChatMessageRecord): HTMLElement | undefined {
  if (!m.attachments?.length) return undefined;
  const box = el("div", "media");
  for (const a of m.attachments) {
    if (a.type.startsWith("image/")) {
      const img = el("img");
      img.src = previewUrl(a.blob);
      img.alt = a.name;
      box.append(img);
    } else box.append(el("span", "muted", `video: ${a.name}`));
  }
  return box;
}

/** Fills `target` (an article) with the message; keeps an opened reasoning block open. */
export function renderMessage(target: HTMLElement, m: ChatMessageRecord, streaming = false): void {
  const wasOpen = target.querySelector("details")?.open ?? false;
  target.className = `msg ${m.role}`;
  target.setAttribute("aria-label", m.role === "user" ? "You" : "Assistant");
  target.setAttribute("aria-busy", String(streaming));
  target.replaceChildren();
  const media = mediaThumbnails(m);
  if (media) target.append(media);
  if (m.role === "user") {
    target.append(m.text);
    return;
  }
  if (m.reasoning) {
    const details = el("details");
    details.open = wasOpen;
    details.append(el("summary", undefined, streaming && !m.text ? "Thinking…" : "Reasoning"));
    details.append(el("div", "reasoning-text", m.reasoning));
    target.append(details);
  }
  const body = el("div", "answer");
  body.append(renderMarkdown(m.text));
  target.append(body);
  for (const call of m.toolCalls ?? []) {
    target.append(el("div", "tool-call", `tool call: ${call.name}(${call.arguments})`));
  }
  if (m.error) target.append(el("p", "error", m.error));
  if (m.stats) target.append(el("div", "stats muted", formatStats(m.stats)));
}
