/** Download progress across every file of a resolution (shards fetched in parallel). */

export interface DownloadProgress {
  /** the file this event is about (label: "owner/repo/file.gguf" or the URL) */
  file: string;
  state: "start" | "progress" | "done" | "cached";
  /** bytes of this file present so far, and its size when known */
  received: number;
  total?: number;
  /** the same over every file being fetched */
  overallReceived: number;
  overallTotal?: number;
  /** files in this resolution, and how many are complete */
  files: number;
  filesDone: number;
}

export type ProgressListener = (p: DownloadProgress) => void;

export class ProgressTracker {
  private files = new Map<string, { received: number; total?: number; done: boolean }>();
  constructor(private listener?: ProgressListener) {}

  update(file: string, state: DownloadProgress["state"], received: number, total?: number): void {
    const f = this.files.get(file) ?? { received: 0, done: false };
    f.received = received;
    f.total = total ?? f.total;
    f.done = state === "done" || state === "cached";
    this.files.set(file, f);
    if (!this.listener) return;
    let overallReceived = 0;
    let overallTotal: number | undefined = 0;
    let filesDone = 0;
    for (const v of this.files.values()) {
      overallReceived += v.received;
      overallTotal = v.total === undefined || overallTotal === undefined ? undefined : overallTotal + v.total;
      if (v.done) filesDone++;
    }
    this.listener({
      file,
      state,
      received,
      total: f.total,
      overallReceived,
      overallTotal,
      files: this.files.size,
      filesDone,
    });
  }
}
