// Renders a kustomize overlay with `kubectl kustomize`, as `kubectl apply -k` would before
// sending it, into plain objects. No cluster is involved.
import { execFileSync } from "node:child_process";
import { parseAllDocuments } from "yaml";

/** A rendered Kubernetes object, read as JSON. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** The oldest kustomize these overlays use fields of (`resources:` naming directories, `patches:` with targets). */
export const MIN_KUSTOMIZE_MAJOR = 4;
/** kubectl's own name, or KUBECTL for another binary. */
export const KUBECTL = process.env.KUBECTL || "kubectl";

export type KubectlFound = { ok: true; kustomize: string } | { ok: false; why: string };

/** Whether a kubectl that can render these overlays is on PATH, and why not. */
export function findKubectl(): KubectlFound {
  let out: string;
  try {
    out = execFileSync(KUBECTL, ["version", "--client", "-o", "json"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 20_000 });
  } catch (err) {
    return { ok: false, why: `${KUBECTL} did not run (${(err as Error).message.split("\n")[0]}); install kubectl (Debian: kubernetes-client)` };
  }
  const v = JSON.parse(out) as { clientVersion?: { gitVersion?: string }; kustomizeVersion?: string };
  const major = Number(/^v(\d+)\./.exec(v.kustomizeVersion ?? "")?.[1] ?? 0);
  if (major < MIN_KUSTOMIZE_MAJOR) {
    return {
      ok: false,
      why: `${KUBECTL} ${v.clientVersion?.gitVersion ?? "?"} embeds kustomize ${v.kustomizeVersion ?? "v2 or older"}; the overlays need kustomize v${MIN_KUSTOMIZE_MAJOR}+ (kubectl 1.21 or later)`,
    };
  }
  return { ok: true, kustomize: v.kustomizeVersion! };
}

/** `kubectl kustomize dir` as objects; throws with kubectl's own message when it refuses. */
export function render(dir: string): K8sObject[] {
  let out: string;
  try {
    out = execFileSync(KUBECTL, ["kustomize", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000, maxBuffer: 32 * 1024 * 1024 });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? "";
    throw new Error(`kubectl kustomize ${dir} failed: ${stderr.trim() || (err as Error).message}`);
  }
  const docs = parseAllDocuments(out);
  const objects: K8sObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`kubectl kustomize ${dir} printed YAML that does not parse: ${doc.errors[0]!.message}`);
    const obj = doc.toJSON() as K8sObject | null;
    if (obj !== null) objects.push(obj);
  }
  return objects;
}

export const describe = (o: K8sObject) => `${o.kind}/${o.metadata?.name}`;
