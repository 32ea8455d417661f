// The environment a container of a rendered Deployment gets, assembled as the kubelet
// does: `envFrom` sources in order, then `env` entries (which win), `$(NAME)` references
// expanded from what came before. ConfigMaps and Secrets are looked up among the rendered
// objects, then among `external` (Secrets a platform team creates before installing).
import type { K8sObject } from "./k8s-render.js";

type Data = Record<string, string>;

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    secretKeyRef?: { name: string; key: string; optional?: boolean };
    configMapKeyRef?: { name: string; key: string; optional?: boolean };
    fieldRef?: { fieldPath: string };
  };
}
interface EnvFrom {
  configMapRef?: { name: string; optional?: boolean };
  secretRef?: { name: string; optional?: boolean };
  prefix?: string;
}
export interface Container {
  name: string;
  image?: string;
  env?: EnvVar[];
  envFrom?: EnvFrom[];
  [field: string]: unknown;
}

export interface AssembledEnv {
  env: Record<string, string>;
  /** References that would stop the pod from starting (a missing Secret or key). */
  missing: string[];
}

/** A ConfigMap's or Secret's data as text (Secret `data` is base64). */
export function dataOf(o: K8sObject): Data {
  const raw = o as { data?: Data; stringData?: Data };
  if (o.kind === "Secret") {
    const decoded = Object.fromEntries(Object.entries(raw.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
    return { ...decoded, ...(raw.stringData ?? {}) };
  }
  return { ...(raw.data ?? {}) };
}

/** Stand-ins for the downward API's fields. */
const FIELD_VALUES: Record<string, string> = { "metadata.name": "pod-0", "metadata.namespace": "fuel", "spec.nodeName": "node-0" };

export function containerEnv(c: Container, objects: K8sObject[], external: Record<string, Data> = {}): AssembledEnv {
  const missing: string[] = [];
  const source = (kind: "ConfigMap" | "Secret", name: string): Data | undefined => {
    const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
    if (found) return dataOf(found);
    return kind === "Secret" ? external[name] : undefined;
  };
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    const kind = from.configMapRef ? "ConfigMap" : "Secret";
    const data = ref ? source(kind, ref.name) : undefined;
    if (!data) {
      if (!ref?.optional) missing.push(`${kind} ${ref?.name}`);
      continue;
    }
    for (const [k, v] of Object.entries(data)) env[(from.prefix ?? "") + k] = v;
  }
  for (const v of c.env ?? []) {
    if (v.value !== undefined) {
      env[v.name] = v.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name: string) => env[name] ?? whole);
      continue;
    }
    const ref = v.valueFrom?.secretKeyRef ?? v.valueFrom?.configMapKeyRef;
    if (ref) {
      const value = source(v.valueFrom?.secretKeyRef ? "Secret" : "ConfigMap", ref.name)?.[ref.key];
      if (value !== undefined) env[v.name] = value;
      else if (!ref.optional) missing.push(`${ref.name}.${ref.key} (for ${v.name})`);
      continue;
    }
    const field = v.valueFrom?.fieldRef?.fieldPath;
    if (field) env[v.name] = FIELD_VALUES[field] ?? `<${field}>`;
  }
  return { env, missing };
}
