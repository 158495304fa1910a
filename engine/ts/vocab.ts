/** The model's vocabulary on the calling thread: token bytes, attributes, end-of-generation ids. */

// llama_token_attr bits (include/llama.h)
const ATTR_CONTROL = 1 << 3;

export interface VocabData {
  pieces: Uint8Array;
  offsets: Uint32Array;
  attrs: Int32Array;
  eog: number[];
}

export class Vocabulary {
  private eog: Set<number>;
  private byText = new Map<string, number>();

  constructor(private data: VocabData) {
    this.eog = new Set(data.eog);
  }

  get size(): number {
    return this.data.attrs.length;
  }

  bytes(token: number): Uint8Array {
    return this.data.pieces.subarray(this.data.offsets[token], this.data.offsets[token + 1]);
  }

  isControl(token: number): boolean {
    return (this.data.attrs[token] & ATTR_CONTROL) !== 0;
  }

  isEog(token: number): boolean {
    return this.eog.has(token);
  }

  /** The id of a token whose text is exactly `text` (special tokens such as "<image>"). */
  idOf(text: string): number | undefined {
    if (!this.byText.size) {
      const d = new TextDecoder();
      for (let t = 0; t < this.size; t++) {
        const b = this.bytes(t);
        if (b.length > 1 && b[0] === 0x3c) this.byText.set(d.decode(b), t); // only "<...>" tokens
      }
    }
    return this.byText.get(text);
  }
}

/** Turns tokens into text incrementally; multi-byte characters split across tokens are held. */
export class Detokenizer {
  private decoder = new TextDecoder("utf-8");
  constructor(private vocab: Vocabulary, private special = false) {}

  push(token: number): string {
    if (!this.special && this.vocab.isControl(token)) return "";
    return this.decoder.decode(this.vocab.bytes(token), { stream: true });
  }

  flush(): string {
    return this.decoder.decode();
  }
}
