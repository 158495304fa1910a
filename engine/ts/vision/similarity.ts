/** Cosine similarity between corresponding rows (tokens) of two embedding sets: how much a
 * change of weights or engine moves what the language model sees. */
export function rowCosines(a: Float32Array, b: Float32Array, width: number): { min: number; mean: number } {
  if (a.length !== b.length || a.length % width) throw new RangeError("embedding sets differ in shape");
  let min = 1;
  let sum = 0;
  const rows = a.length / width;
  for (let r = 0; r < rows; r++) {
    let dot = 0, aa = 0, bb = 0;
    for (let i = r * width; i < (r + 1) * width; i++) {
      dot += a[i] * b[i];
      aa += a[i] * a[i];
      bb += b[i] * b[i];
    }
    const c = dot / Math.sqrt(aa * bb);
    min = Math.min(min, c);
    sum += c;
  }
  return { min, mean: sum / rows };
}
