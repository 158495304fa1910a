/** Test helpers for streaming parsers: every way of cutting a text into pieces we care about. */

/** The whole text, char by char, every single split point, and a few seeded random cuttings. */
export function* cuttings(text: string, seed = 1): Generator<string[]> {
  yield [text];
  yield [...text].length === text.length ? text.split("") : Array.from(text);
  for (let i = 1; i < text.length; i++) yield [text.slice(0, i), text.slice(i)];
  const rand = prng(seed);
  for (let n = 0; n < 20; n++) {
    const pieces: string[] = [];
    for (let i = 0; i < text.length;) {
      const len = 1 + Math.floor(rand() * 6);
      pieces.push(text.slice(i, i + len));
      i += len;
    }
    yield pieces;
  }
}

/** Small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random string over a small alphabet of "interesting" pieces. */
export function randomText(rand: () => number, alphabet: string[], maxPieces = 30): string {
  let s = "";
  const n = Math.floor(rand() * maxPieces);
  for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
  return s;
}
