/**
 * What the prefix cache knows, without running anything: what each sequence of a context holds
 * (the identity of every position: a token id, or for an embedding position its span's key and
 * row), the longest prefix two prompts share, and a byte-bounded LRU of recurrent-state
 * checkpoints. The scheduler (scheduler.ts) decides with these which sequence a request gets and
 * from where it prefills; docs/architecture.md, "Prefix cache".
 */

import type { PromptInput } from "./generation.ts";

/** An embedding span by identity: positions start .. end - 1 carry rows of the embeddings named `key`. */
export interface SpanIdentity {
  start: number;
  end: number;
  key: string;
}

/** The identity of a prompt (or of what a sequence holds): tokens plus the embedding spans over them. */
export class PromptIdentity {
  constructor(public tokens: number[] = [], public spans: SpanIdentity[] = []) {}

  static of(input: PromptInput, nEmbd: number): PromptIdentity {
    const spans = (input.embeddings ?? []).map((e) => ({
      start: e.start,
      end: e.start + e.data.length / nEmbd,
      key: e.key ?? contentKey(e.data),
    })).sort((a, b) => a.start - b.start);
    return new PromptIdentity(Array.from(input.tokens), spans);
  }

  get length(): number {
    return this.tokens.length;
  }

  /** The first n positions (a span cut by n keeps its key: its first rows are the same rows). */
  slice(n: number): PromptIdentity {
    return new PromptIdentity(
      this.tokens.slice(0, n),
      this.spans.filter((s) => s.start < n).map((s) => ({ ...s, end: Math.min(s.end, n) })),
    );
  }

  /** Positions from the start where both hold the same token, or the same row of the same embeddings. */
  commonPrefix(other: PromptIdentity): number {
    const a = this.tokens, b = other.tokens;
    const max = Math.min(a.length, b.length);
    let n = 0;
    while (n < max && a[n] === b[n]) n++;
    // placeholder tokens are equal for every image: the spans decide
    for (const [mine, theirs] of [[this.spans, other.spans], [other.spans, this.spans]]) {
      for (const s of mine) {
        if (s.start >= n) break;
        const t = theirs.find((x) => x.start === s.start);
        if (!t || t.key !== s.key) n = s.start; // other embeddings (or none) from here
        else if (t.end !== s.end) n = Math.min(n, s.end, t.end); // one goes on with embeddings, the other not
      }
    }
    return n;
  }
}

/**
 * A key for embeddings that came without one: a 64-bit hash of their bits, remembered per array
 * (the encode cache hands out the same arrays for the same tiles, so a repeated image hashes once).
 */
const hashed = new WeakMap<Float32Array, string>();
export function contentKey(data: Float32Array): string {
  let key = hashed.get(data);
  if (key) return key;
  const words = new Uint32Array(data.buffer, data.byteOffset, data.length);
  let h1 = 0x811c9dc5 ^ words.length, h2 = 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    h1 = Math.imul(h1 ^ w, 0x01000193);
    h2 = Math.imul(h2 ^ w, 0x5bd1e995) ^ (h2 >>> 15);
  }
  key = `h:${words.length}:${(h1 >>> 0).toString(16)}${(h2 >>> 0).toString(16)}`;
  hashed.set(data, key);
  return key;
}

/** A saved recurrent state: sequence `seq` after its first `n` positions. */
export interface Checkpoint {
  seq: number;
  n: number;
  state: Uint8Array;
  lastUsed: number;
}

/**
 * A conversation whose sequence another request took: the sequence's whole state (attention cells
 * and recurrent state, `content` long) and its checkpoints, to be restored into any sequence.
 */
export interface Parked {
  content: PromptIdentity;
  state: Uint8Array;
  checkpoints: Checkpoint[];
  lastUsed: number;
}

/** The checkpoint with the most positions, at most `maxN`. */
export function deepest(checkpoints: Iterable<Checkpoint>, maxN: number): Checkpoint | undefined {
  let found: Checkpoint | undefined;
  for (const c of checkpoints) if (c.n <= maxN && (!found || c.n > found.n)) found = c;
  return found;
}

const parkedBytes = (p: Parked) => p.checkpoints.reduce((sum, c) => sum + c.state.byteLength, p.state.byteLength);

/**
 * The sequences' checkpoints and the parked conversations, at most `budgetBytes` together, least
 * recently used out first.
 */
export class CheckpointStore {
  private items: Checkpoint[] = [];
  readonly parked: Parked[] = [];
  private clock = 0;
  bytes = 0;

  constructor(readonly budgetBytes: number) {}

  get count(): number {
    return this.items.length;
  }

  /** Keeps a checkpoint (replacing one at the same place); false when it alone exceeds the budget. */
  add(seq: number, n: number, state: Uint8Array): boolean {
    this.drop((c) => c.seq === seq && c.n === n);
    if (!this.makeRoom(state.byteLength)) return false;
    this.items.push({ seq, n, state, lastUsed: ++this.clock });
    this.bytes += state.byteLength;
    return true;
  }

  /** The checkpoints of `seq`. */
  of(seq: number): Checkpoint[] {
    return this.items.filter((c) => c.seq === seq);
  }

  /** Marks a checkpoint or a parked conversation as just used (the last to be evicted). */
  touch(c: Checkpoint | Parked) {
    c.lastUsed = ++this.clock;
  }

  /** Forgets the checkpoints of `seq` past its first `n` positions (what the sequence no longer holds). */
  dropAfter(seq: number, n: number) {
    this.drop((c) => c.seq === seq && c.n > n);
  }

  /** Parks a conversation with the checkpoints of `seq` past `n` (moved out of the sequence's); false when it does not fit. */
  park(seq: number, n: number, content: PromptIdentity, state: Uint8Array): boolean {
    const checkpoints = this.items.filter((c) => c.seq === seq && c.n > n);
    this.dropAfter(seq, n);
    const p: Parked = { content, state, checkpoints: checkpoints.map((c) => ({ ...c, seq: -1 })), lastUsed: 0 };
    if (!this.makeRoom(parkedBytes(p))) return false;
    this.touch(p);
    this.parked.push(p);
    this.bytes += parkedBytes(p);
    return true;
  }

  /** Takes a parked conversation out; its checkpoints become those of `seq`. */
  unpark(p: Parked, seq: number) {
    const i = this.parked.indexOf(p);
    if (i < 0) return;
    this.parked.splice(i, 1);
    this.bytes -= p.state.byteLength;
    for (const c of p.checkpoints) this.items.push({ ...c, seq });
  }

  /** Evicts least recently used entries until `bytes` more fit; false when they never can. */
  private makeRoom(bytes: number): boolean {
    if (bytes > this.budgetBytes) return false;
    while (this.bytes + bytes > this.budgetBytes) {
      const all: (Checkpoint | Parked)[] = [...this.items, ...this.parked];
      const oldest = all.reduce((a, b) => (a.lastUsed <= b.lastUsed ? a : b));
      if ("seq" in oldest) this.drop((c) => c === oldest);
      else {
        this.parked.splice(this.parked.indexOf(oldest), 1);
        this.bytes -= parkedBytes(oldest);
      }
    }
    return true;
  }

  private drop(which: (c: Checkpoint) => boolean) {
    this.items = this.items.filter((c) => {
      if (!which(c)) return true;
      this.bytes -= c.state.byteLength;
      return false;
    });
  }
}
