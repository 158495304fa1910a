/**
 * minicpmv-edge command line. Runs on Deno (`deno run -A cli.ts`), Bun (`bun cli.ts`) and
 * Node.js (`node dist/node/cli.js`, the esbuild bundle). `cli.ts help` lists the commands.
 */

import { main } from "./cli/main.ts";

const argv = (globalThis as { Deno?: { args: string[] } }).Deno?.args ?? process.argv.slice(2);
const code = await main(argv);
// Idle pthread workers keep Node and Bun alive: leave explicitly.
process.exit(code);
