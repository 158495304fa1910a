/**
 * Model answers as Markdown: `marked` (GFM) to HTML, then DOMPurify, so nothing a model writes can
 * run script in the page (no <script>, no on* handlers, no javascript: links). Images are dropped
 * too: an answer must not make the browser fetch an address the model chose. Code blocks get a
 * copy button. Its own entry point (assets/markdown.js), so a test can import exactly what the page uses.
 */

import DOMPurify from "dompurify";
import { marked } from "marked";

const purify = DOMPurify(window);
purify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});

/** Sanitised DOM for a Markdown answer. */
export function renderMarkdown(markdown: string): DocumentFragment {
  const html = marked.parse(markdown, { async: false, gfm: true, breaks: true });
  const fragment = purify.sanitize(html, {
    RETURN_DOM_FRAGMENT: true,
    FORBID_TAGS: ["img", "style", "form", "input", "button", "textarea", "select", "iframe", "video", "audio"],
    FORBID_ATTR: ["style"],
    ADD_ATTR: ["target"],
  });
  for (const pre of fragment.querySelectorAll("pre")) pre.append(copyButton(pre.textContent ?? ""));
  return fragment;
}

function copyButton(text: string): HTMLButtonElement {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "copy";
  button.textContent = "Copy";
  button.setAttribute("aria-label", "Copy code");
  button.addEventListener("click", async () => {
    await navigator.clipboard.writeText(text);
    button.textContent = "Copied";
    setTimeout(() => (button.textContent = "Copy"), 1500);
  });
  return button;
}
