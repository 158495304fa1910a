/** The benchmark's outputs: a Markdown table with ratios and an SVG bar chart for the README. */

export interface Row {
  metric: string;
  threads: number;
  wasm: number;
  native: number;
  /** native llama.cpp built for AVX2 only (bench --native-avx2) */
  nativeAvx2?: number;
  /** "tok/s" (higher is better), "s" or "MB" (lower is better) */
  unit: "tok/s" | "s" | "MB";
}

/** WASM as a fraction of native, > 1 when WASM is better: speed for tok/s, native/wasm for costs. */
export const ratio = (r: Row, native = r.native) => (r.unit === "tok/s" ? r.wasm / native : native / r.wasm);

export function table(rows: Row[], runtime: string): string {
  const avx2 = rows.some((r) => r.nativeAvx2 !== undefined);
  const head = `| metric | unit | threads | WASM (${runtime}) | native | WASM / native (speed, >1 = WASM better) |` +
    (avx2 ? " native AVX2 build | WASM / native AVX2 |" : "");
  const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(2));
  const lines = rows.map((r) =>
    `| ${r.metric} | ${r.unit} | ${r.threads} | ${fmt(r.wasm)} | ${fmt(r.native)} | ${ratio(r).toFixed(3)}x |` +
    (avx2
      ? (r.nativeAvx2 === undefined ? " | |" : ` ${fmt(r.nativeAvx2)} | ${ratio(r, r.nativeAvx2).toFixed(3)}x |`)
      : "")
  );
  return [head, `|---|---|---|---|---|---|${avx2 ? "---|---|" : ""}`, ...lines].join("\n");
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** Horizontal bars of the WASM/native ratio per row (log scale, 1 = parity), hand-drawn SVG. */
export function chart(rows: Row[], title: string): string {
  const left = 330, width = 360, barH = 18, gap = 8, top = 44;
  const lo = Math.log10(0.05), hi = Math.log10(2);
  const x = (v: number) => left + ((Math.log10(Math.min(Math.max(v, 0.05), 2)) - lo) / (hi - lo)) * width;
  const height = top + rows.length * (barH + gap) + 30;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${
      left + width + 70
    }" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  for (const t of [0.05, 0.1, 0.2, 0.5, 1, 2]) {
    out.push(
      `<line x1="${x(t)}" y1="${top - 6}" x2="${x(t)}" y2="${height - 24}" stroke="${t === 1 ? "#333" : "#ddd"}"/>`,
    );
    out.push(`<text x="${x(t)}" y="${height - 10}" text-anchor="middle" fill="#555">${t}x</text>`);
  }
  rows.forEach((r, i) => {
    const y = top + i * (barH + gap);
    const v = ratio(r);
    out.push(`<text x="${left - 8}" y="${y + 13}" text-anchor="end">${esc(`${r.metric} (${r.threads}t)`)}</text>`);
    out.push(
      `<rect x="${x(0.05)}" y="${y}" width="${Math.max(1, x(v) - x(0.05))}" height="${barH}" fill="${
        v >= 1 ? "#2a9d8f" : "#e76f51"
      }"/>`,
    );
    out.push(`<text x="${x(v) + 4}" y="${y + 13}">${v.toFixed(2)}x</text>`);
  });
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
