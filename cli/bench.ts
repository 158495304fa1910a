/** `bench`: WASM vs native llama.cpp on the real-shape model. */

export async function run(_args: string[]): Promise<number> {
  const { runBench } = await import("../bench/bench.ts");
  return await runBench(_args);
}
