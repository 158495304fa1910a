import { Engine, Model } from "./mod.ts";
import { writeFileSync } from "node:fs";
const e = await Engine.create({ threads: 1, logLevel: "error" });
const m = await Model.load(e, process.argv[2] ?? Deno.args[0]);
const ctx = await m.createContext({ contextSize: 1024 });
const l = await ctx.evaluate(await m.tokenize("Hello world"));
writeFileSync("/tmp/lw.bin", new Uint8Array(l.buffer));
e.terminate();
