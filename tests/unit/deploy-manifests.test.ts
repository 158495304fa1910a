/**
 * The deployment files in deploy/ are checked, not just written: every Kubernetes manifest validates
 * against the published Kubernetes (and KEDA) schemas (kubernetes-models, offline), the probes point
 * at routes the server has, the environment variables name real `serve` flags, and the metric names
 * the autoscaler and the endpoint picker read are ones /metrics exports.
 */

import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { parseAllDocuments } from "yaml";
import { Deployment } from "kubernetes-models/apps/v1";
import { PersistentVolumeClaim, Service } from "kubernetes-models/v1";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1";

const root = new URL("../../deploy/", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), "utf8");

// deno-lint-ignore no-explicit-any
type Manifest = Record<string, any>;
// deno-lint-ignore no-explicit-any
type ManifestModel = new (m: any) => { validate(): void };
const MODELS: Record<string, ManifestModel> = {
  "apps/v1/Deployment": Deployment,
  "v1/Service": Service,
  "v1/PersistentVolumeClaim": PersistentVolumeClaim,
  "keda.sh/v1alpha1/ScaledObject": ScaledObject,
};

function manifests(): Manifest[] {
  return readdirSync(new URL("kubernetes/", root)).filter((f) => f.endsWith(".yaml")).flatMap((f) =>
    parseAllDocuments(read(`kubernetes/${f}`)).map((d) => {
      assert.equal(d.errors.length, 0, `${f}: ${d.errors.join("; ")}`);
      return d.toJS() as Manifest;
    })
  );
}

test("every Kubernetes manifest validates against its schema", () => {
  const all = manifests();
  assert.ok(all.length >= 4);
  for (const m of all) {
    const Model = MODELS[`${m.apiVersion}/${m.kind}`];
    assert.ok(Model, `no schema for ${m.apiVersion} ${m.kind}`);
    new Model(m).validate(); // throws with the failing JSON path
  }
});

test("the validator catches a broken manifest (the check can fail)", () => {
  const deployment = manifests().find((m) => m.kind === "Deployment")!;
  deployment.spec.template.spec.containers[0].ports[0].containerPort = "eighty";
  assert.throws(() => new Deployment(deployment).validate(), /containerPort/);
});

test("the drain fits the grace period, and the environment names serve's flags", () => {
  const deployment = manifests().find((m) => m.kind === "Deployment")!;
  const container = deployment.spec.template.spec.containers[0];
  const env = Object.fromEntries(container.env.map((e: Manifest) => [e.name, e.value]));
  assert.ok(deployment.spec.template.spec.terminationGracePeriodSeconds > Number(env.MINICPMV_EDGE_DRAIN_TIMEOUT));
  const serveSource = readFileSync(new URL("../../cli/serve.ts", import.meta.url), "utf8");
  for (const name of Object.keys(env)) {
    const flag = name.replace(/^MINICPMV_EDGE_/, "").toLowerCase().replaceAll("_", "-");
    assert.match(serveSource, new RegExp(`"${flag}": \\{|\\b${flag}: \\{`), `${name}: serve has no --${flag}`);
  }
});

test("the LiteLLM and llm-d files parse and point at the OpenAI API and our gauges", () => {
  const litellm = parseAllDocuments(read("litellm/config.yaml"))[0].toJS();
  assert.match(litellm.model_list[0].litellm_params.api_base, /\/v1$/);
  const values = parseAllDocuments(read("llm-d/inference-pool-values.yaml"))[0].toJS();
  for (const metric of Object.values(values.inferenceExtension.flags).filter(Boolean)) {
    assert.match(String(metric), /^minicpmv_edge:/);
  }
});
