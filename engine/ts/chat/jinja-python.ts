/**
 * Python spelling of booleans in rendered chat templates.
 *
 * Chat templates are written for Python's Jinja2, where `{{ flag }}` and `flag|string` print `True`/`False`.
 * @huggingface/jinja prints `true`/`false`. The Qwen3.5 template renders scalar tool-call arguments of
 * earlier turns with `args_value|string`, so a boolean argument came out as `true` where transformers and
 * vLLM write `True`, and the prompt differed from the reference by a token. This module makes the two
 * places that turn a boolean into text (printing and the `string` filter) follow Python; `tojson` keeps
 * JSON's `true`, as in Python. The library exports neither the value classes nor a filter hook, so the
 * classes are taken from a value the environment creates and the patch wraps `Interpreter.applyFilter`.
 */

import { Environment, Interpreter } from "@huggingface/jinja";

interface RuntimeValue {
  type: string;
  value: unknown;
}
type ValueClass = new (value: unknown) => RuntimeValue;

function runtimeClass(sample: unknown): ValueClass {
  const env = new Environment();
  env.set("sample", sample);
  return (env.lookupVariable("sample") as unknown as { constructor: ValueClass }).constructor;
}

const pythonBool = (value: unknown) => (value ? "True" : "False");

let installed = false;

/** Installs the Python spelling once per process (idempotent). */
export function usePythonBooleans(): void {
  if (installed) return;
  installed = true;
  const BooleanValue = runtimeClass(true);
  const StringValue = runtimeClass("");
  BooleanValue.prototype.toString = function (this: RuntimeValue) {
    return pythonBool(this.value);
  };
  const proto = Interpreter.prototype as unknown as {
    applyFilter(operand: RuntimeValue, filter: { type: string; value?: unknown }, env: unknown): RuntimeValue;
  };
  const applyFilter = proto.applyFilter;
  proto.applyFilter = function (operand, filter, env) {
    if (operand instanceof BooleanValue && filter.type === "Identifier" && filter.value === "string") {
      return new StringValue(pythonBool(operand.value));
    }
    return applyFilter.call(this, operand, filter, env);
  };
}
