/** Messages between the engine client (any thread) and the engine worker. */

export interface RpcRequest {
  id: number;
  method: string;
  args: unknown[];
}

export interface RpcError {
  name: string;
  message: string;
  code?: string;
  param?: string;
}

export type RpcResponse =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: RpcError }
  | { id: -1; log: string };

/** Typed arrays in a value that can be moved instead of copied. */
export function transferables(value: unknown, out: Transferable[] = []): Transferable[] {
  if (ArrayBuffer.isView(value)) {
    if (value.buffer instanceof ArrayBuffer && !out.includes(value.buffer)) out.push(value.buffer);
  } else if (Array.isArray(value)) {
    for (const v of value) transferables(v, out);
  } else if (value && typeof value === "object" && !(value instanceof Blob)) {
    for (const v of Object.values(value)) transferables(v, out);
  }
  return out;
}
