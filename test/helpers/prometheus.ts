// Reads a process's /metrics as Prometheus would: the text exposition format parsed into
// samples, and the metric families it declares (# TYPE), for suites that assert on them.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Scrape {
  samples: Sample[];
  /** Family name → type (counter, gauge, histogram, …), from the # TYPE lines. */
  families: Map<string, string>;
  /** Sum of the samples named `name` whose labels include `labels`. */
  value(name: string, labels?: Record<string, string>): number;
  /** Whether any sample named `name` has labels including `labels`. */
  has(name: string, labels?: Record<string, string>): boolean;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseExposition(text: string): Scrape {
  const samples: Sample[] = [];
  const families = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line.startsWith("# TYPE ")) {
      const [, , name, type] = line.split(" ");
      families.set(name!, type!);
      continue;
    }
    if (line === "" || line.startsWith("#")) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(LABEL)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  const matching = (name: string, labels: Record<string, string>) =>
    samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    samples,
    families,
    value: (name, labels = {}) => matching(name, labels).reduce((a, s) => a + s.value, 0),
    has: (name, labels = {}) => matching(name, labels).length > 0,
  };
}

export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`GET ${url}: ${res.status}`);
  return parseExposition(await res.text());
}

/** Scrapes `url` until `check` passes (returns its last scrape) or throws its last failure after `timeoutMs`. */
export async function scrapeUntil(url: string, check: (s: Scrape) => void, timeoutMs = 10_000, everyMs = 100): Promise<Scrape> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const s = await scrape(url);
    try {
      check(s);
      return s;
    } catch (err) {
      if (performance.now() > deadline) throw err;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
