// OTEL_RESOURCE_ATTRIBUTES, the standard way a platform tells a process where it runs
// (Kubernetes sets it from the Downward API: k8s.pod.name, k8s.namespace.name, …):
// `key=value,key=value`, values percent-encoded as in W3C Baggage. Pure.

/** More pairs than any deployment sets; a longer list is a mistake, not a need. */
export const MAX_RESOURCE_ATTRIBUTES = 64;
/** The OpenTelemetry specification's limit on a key and on a value. */
export const MAX_RESOURCE_ATTRIBUTE_CHARS = 255;

export interface ParsedAttributes {
  attributes: Record<string, string>;
  /** One message per malformed pair, naming it. */
  problems: string[];
}

export function parseResourceAttributes(raw: string | undefined): ParsedAttributes {
  const attributes: Record<string, string> = {};
  const problems: string[] = [];
  if (!raw || raw.trim() === "") return { attributes, problems };
  const pairs = raw.split(",").map((p) => p.trim()).filter((p) => p !== "");
  if (pairs.length > MAX_RESOURCE_ATTRIBUTES) {
    problems.push(`OTEL_RESOURCE_ATTRIBUTES has ${pairs.length} pairs; at most ${MAX_RESOURCE_ATTRIBUTES}`);
    return { attributes, problems };
  }
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    const key = eq < 0 ? "" : pair.slice(0, eq).trim();
    if (eq < 0 || key === "") {
      problems.push(`OTEL_RESOURCE_ATTRIBUTES pair ${JSON.stringify(pair.slice(0, 40))} must be key=value`);
      continue;
    }
    let value: string;
    try {
      value = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      problems.push(`OTEL_RESOURCE_ATTRIBUTES value of ${JSON.stringify(key.slice(0, 40))} is not valid percent-encoding`);
      continue;
    }
    if (key.length > MAX_RESOURCE_ATTRIBUTE_CHARS || value.length > MAX_RESOURCE_ATTRIBUTE_CHARS) {
      problems.push(`OTEL_RESOURCE_ATTRIBUTES ${JSON.stringify(key.slice(0, 40))}: key and value at most ${MAX_RESOURCE_ATTRIBUTE_CHARS} characters`);
      continue;
    }
    attributes[key] = value;
  }
  return { attributes, problems };
}
