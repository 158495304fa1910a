/** Helpers shared by the streaming output parsers. */

/** Length of the longest end of `text` that is a proper prefix of one of `markers`. */
export function partialMarkerLength(text: string, markers: readonly string[]): number {
  let keep = 0;
  for (const m of markers) {
    for (let k = Math.min(m.length - 1, text.length); k > keep; k--) {
      if (text.endsWith(m.slice(0, k))) {
        keep = k;
        break;
      }
    }
  }
  return keep;
}

/** Index of the first whitespace character of the trailing whitespace run. */
export function trailingSpaceStart(text: string): number {
  let i = text.length;
  while (i > 0 && isSpace(text.charCodeAt(i - 1))) i--;
  return i;
}

/** Index of the first non-whitespace character (text.length if none). */
export function leadingSpaceEnd(text: string, from = 0): number {
  let i = from;
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i;
}

/** C isspace(): what llama.cpp's parsers skip between markers. */
function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13);
}
