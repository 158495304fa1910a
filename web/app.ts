/**
 * The chat page's entry point: wires the static markup of index.html to the two engines (the
 * server's API, or the wasm engine in a worker), the composer (attachments by picker, drop or
 * paste; per-message settings; Enter sends, Shift+Enter breaks the line, Escape stops) and the
 * conversation kept in IndexedDB.
 *
 * Why plain DOM modules and no framework: the page is one form and one list of messages that
 * only grows; a virtual DOM (even Preact's 4 KB) would add a build convention (JSX) and a
 * dependency for no gain, and plain modules keep the script small and readable.
 */

import { BrowserChat, type BrowserEngineInfo } from "./browser-chat.ts";
import type {
  AnswerEvent,
  AnswerStats,
  Attachment,
  ChatBackend,
  ChatMessageRecord,
  TurnSettings,
} from "./chat-types.ts";
import { clearConversation, loadConversation, saveConversation } from "./conversation-store.ts";
import { formatProgress } from "./format.ts";
import { requestHistory } from "./history.ts";
import { mediaThumbnails, renderMessage } from "./message-view.ts";
import { ServerChat } from "./server-chat.ts";

type UsageEvent = Extract<AnswerEvent, { type: "usage" }>;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  log: $<HTMLElement>("log"),
  composer: $<HTMLFormElement>("composer"),
  message: $<HTMLTextAreaElement>("message"),
  send: $<HTMLButtonElement>("send"),
  stop: $<HTMLButtonElement>("stop"),
  attach: $<HTMLInputElement>("attach"),
  attachments: $<HTMLUListElement>("attachments"),
  downsample: $<HTMLSelectElement>("downsample"),
  maxSlices: $<HTMLInputElement>("max-slices"),
  thinking: $<HTMLInputElement>("thinking"),
  newChat: $<HTMLButtonElement>("new-chat"),
  browserMode: $<HTMLInputElement>("browser-mode"),
  engineInfo: $<HTMLElement>("engine-info"),
  apiKey: $<HTMLInputElement>("api-key"),
  modelRef: $<HTMLInputElement>("model-ref"),
  mmprojRef: $<HTMLInputElement>("mmproj-ref"),
  settings: $<HTMLDetailsElement>("settings"),
  download: $<HTMLElement>("download"),
  downloadBar: $<HTMLProgressElement>("download-bar"),
  downloadText: $<HTMLElement>("download-text"),
};

const base = new URL(".", location.href);
const server = new ServerChat(base, () => ui.apiKey.value.trim());
let browser: { chat: BrowserChat; ready: Promise<BrowserEngineInfo> } | undefined;
let conversation: ChatMessageRecord[] = [];
let pending: Attachment[] = [];
let running: AbortController | undefined;
/** a static host (no server API): the page runs in browser-only mode */
let staticHost = false;

// ---- settings remembered across visits (not the conversation: that is IndexedDB) ----
for (const [input, key] of [[ui.apiKey, "apiKey"], [ui.modelRef, "modelRef"], [ui.mmprojRef, "mmprojRef"]] as const) {
  input.value = new URLSearchParams(location.search).get(key) ?? localStorage.getItem(`mce.${key}`) ?? "";
  input.addEventListener("input", () => localStorage.setItem(`mce.${key}`, input.value.trim()));
}

$<HTMLFormElement>("settings-form").addEventListener("submit", (e) => e.preventDefault());

function settings(): TurnSettings {
  const slices = Math.round(Number(ui.maxSlices.value));
  return {
    downsampleMode: ui.downsample.value === "4x" ? "4x" : "16x",
    maxSliceNums: Number.isFinite(slices) && slices >= 1 ? Math.min(slices, 36) : 9,
    thinking: ui.thinking.checked,
  };
}

// ---- the conversation view ----
function appendMessage(m: ChatMessageRecord, streaming = false): HTMLElement {
  const article = document.createElement("article");
  renderMessage(article, m, streaming);
  ui.log.append(article);
  article.scrollIntoView({ block: "end" });
  return article;
}

function showConversation() {
  ui.log.replaceChildren();
  for (const m of conversation) appendMessage(m);
}

// ---- attachments: picker, drop, paste ----
function addFiles(files: Iterable<File>) {
  for (const f of files) {
    if (f.type.startsWith("image/") || f.type.startsWith("video/")) {
      pending.push({ name: f.name, type: f.type, blob: f });
    }
  }
  showPending();
}

function showPending() {
  ui.attachments.replaceChildren(...pending.map((a, i) => {
    const li = document.createElement("li");
    const thumbs = mediaThumbnails({ role: "user", text: "", attachments: [a] });
    if (thumbs) li.append(thumbs);
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.setAttribute("aria-label", `Remove ${a.name}`);
    remove.addEventListener("click", () => {
      pending.splice(i, 1);
      showPending();
    });
    li.append(a.name, remove);
    return li;
  }));
}

ui.attach.addEventListener("change", () => {
  addFiles(ui.attach.files ?? []);
  ui.attach.value = "";
});
document.addEventListener("dragover", (e) => {
  e.preventDefault();
  ui.composer.classList.add("dragging");
});
document.addEventListener("dragleave", () => ui.composer.classList.remove("dragging"));
document.addEventListener("drop", (e) => {
  e.preventDefault();
  ui.composer.classList.remove("dragging");
  addFiles(e.dataTransfer?.files ?? []);
});
ui.message.addEventListener("paste", (e) => {
  if (e.clipboardData?.files.length) {
    e.preventDefault();
    addFiles(e.clipboardData.files);
  }
});

// ---- sending and stopping ----
function setRunning(r: AbortController | undefined) {
  running = r;
  ui.send.disabled = !!r;
  ui.stop.disabled = !r;
}

async function backend(): Promise<ChatBackend> {
  if (!ui.browserMode.checked) return server;
  if (!browser) startBrowserEngine();
  await browser!.ready;
  return browser!.chat;
}

async function send() {
  const text = ui.message.value.trim();
  if (running || (!text && !pending.length)) return;
  const user: ChatMessageRecord = { role: "user", text, attachments: pending };
  const answer: ChatMessageRecord = { role: "assistant", text: "" };
  pending = [];
  showPending();
  ui.message.value = "";
  conversation.push(user);
  appendMessage(user);
  const history = requestHistory(conversation);
  conversation.push(answer);
  const view = appendMessage(answer, true);
  const abort = new AbortController();
  setRunning(abort);

  const t0 = performance.now();
  let first: number | undefined;
  let frame = 0;
  const redraw = () => {
    frame ||= requestAnimationFrame(() => {
      frame = 0;
      renderMessage(view, answer, true);
      view.scrollIntoView({ block: "end" });
    });
  };
  let usage: UsageEvent | undefined;
  let engine = "server";
  try {
    const chat = await backend();
    engine = chat.label;
    for await (const e of chat.answer(history, settings(), abort.signal)) {
      if (e.type !== "usage") first ??= performance.now();
      if (e.type === "content") answer.text += e.text;
      else if (e.type === "reasoning") answer.reasoning = (answer.reasoning ?? "") + e.text;
      else if (e.type === "tool_call") {
        answer.toolCalls ??= [];
        const call = answer.toolCalls[e.index] ??= { name: "", arguments: "" };
        if (e.name) call.name = e.name;
        call.arguments += e.arguments;
      } else usage = e;
      redraw();
    }
  } catch (e) {
    if (abort.signal.aborted) answer.error = answer.text ? undefined : "Stopped.";
    else answer.error = e instanceof Error ? e.message : String(e);
  }
  cancelAnimationFrame(frame);
  if (usage) answer.stats = statsOf(usage, engine, t0, first);
  await saveConversation(conversation); // before the final render: a finished answer is a stored one
  renderMessage(view, answer);
  setRunning(undefined);
}

function statsOf(u: UsageEvent, engine: string, t0: number, first: number | undefined): AnswerStats {
  const end = performance.now();
  const decodeSeconds = first === undefined ? 0 : (end - first) / 1000;
  return {
    promptTokens: u.promptTokens,
    completionTokens: u.completionTokens,
    imageTokens: u.imageTokens,
    videoTokens: u.videoTokens,
    firstTokenMs: (first ?? end) - t0,
    tokensPerSecond: u.tokensPerSecond || (decodeSeconds > 0 ? u.completionTokens / decodeSeconds : 0),
    engine,
  };
}

ui.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  send();
});
ui.message.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    send();
  }
});
ui.stop.addEventListener("click", () => running?.abort());
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && running) running.abort();
});
ui.newChat.addEventListener("click", async () => {
  running?.abort();
  await clearConversation(); // first: an emptied view means the stored conversation is gone too
  conversation = [];
  showConversation();
  ui.message.focus();
});

// ---- the engine: server, or in this browser ----
function showEngine(text: string) {
  ui.engineInfo.textContent = text;
}

async function modelRefs(): Promise<{ model: string; mmproj: string | null; knownBytes?: number }> {
  const model = ui.modelRef.value.trim();
  if (model) return { model, mmproj: ui.mmprojRef.value.trim() || null };
  if (staticHost) throw new Error("Set a model (URL or hf:owner/repo/file.gguf) in Settings");
  const key = ui.apiKey.value.trim();
  const res = await fetch(new URL("files/", base), { headers: key ? { authorization: `Bearer ${key}` } : {} });
  if (!res.ok) throw new Error(`the server's model files: HTTP ${res.status}`);
  const listing: { model: string; mmproj: string | null; files: { name: string; size: number; url: string }[] } =
    await res.json();
  const url = (name: string) => new URL(listing.files.find((f) => f.name === name)!.url, base).href;
  return {
    model: url(listing.model),
    mmproj: listing.mmproj ? url(listing.mmproj) : null,
    knownBytes: listing.files.reduce((n, f) => n + f.size, 0),
  };
}

function startBrowserEngine() {
  const chat = new BrowserChat();
  const ready = (async () => {
    showEngine("Loading the engine in this browser…");
    const refs = await modelRefs();
    ui.download.hidden = false;
    try {
      const info = await chat.load({ ...refs, apiKey: ui.apiKey.value.trim() || undefined }, (p) => {
        ui.downloadBar.max = p.total || 1;
        ui.downloadBar.value = p.received;
        ui.downloadText.textContent = formatProgress(p.received, p.total, p.bytesPerSecond);
      });
      showEngine(`Engine: ${chat.label}, loaded in ${(info.loadMs / 1000).toFixed(1)} s`);
      return info;
    } finally {
      ui.download.hidden = true;
    }
  })();
  ready.catch((e) => {
    browser = undefined;
    if (!staticHost) ui.browserMode.checked = false;
    showEngine(`Browser engine: ${e instanceof Error ? e.message : e}`);
  });
  browser = { chat, ready };
}

ui.browserMode.addEventListener("change", () => {
  if (ui.browserMode.checked) {
    if (!browser) startBrowserEngine();
  } else showEngine("Engine: server");
});

async function detectHost() {
  const res = await fetch(new URL("health", base)).catch(() => undefined);
  const isApi = res?.headers.get("content-type")?.includes("application/json") ?? false;
  staticHost = !isApi;
  if (!staticHost) return showEngine("Engine: server");
  ui.browserMode.checked = true;
  ui.browserMode.disabled = true; // no server to fall back on
  if (!crossOriginIsolated && "serviceWorker" in navigator) {
    // a host that cannot send COOP/COEP: sw.js adds them, effective from the next load (docs/web.md)
    try {
      const reg = await navigator.serviceWorker.register(new URL("sw.js", base));
      if (!sessionStorage.getItem("mce.swReloaded")) {
        sessionStorage.setItem("mce.swReloaded", "1");
        await navigator.serviceWorker.ready;
        if (reg.active) return location.reload();
      }
    } catch (e) {
      console.warn(`no service worker (${e}): the engine runs on one thread`);
    }
  }
  if (ui.modelRef.value.trim()) startBrowserEngine();
  else {
    ui.settings.open = true;
    showEngine("Browser only: set a model in Settings, then send");
  }
}

conversation = await loadConversation();
showConversation();
await detectHost();
ui.message.focus();
