// `npm test`: runs every suite (test/*.test.ts) with uvu, each in its own process, one
// after another. A suite gets a fresh process (no tracing, logger or env state leaks from
// the one before) and a time limit, so a stuck suite is named and counted as failed
// instead of hanging the run. Prints uvu-style totals at the end.
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

const SUITE_TIMEOUT_MS = Number(process.env.TEST_SUITE_TIMEOUT_MS ?? 240_000);
const LINGER_MS = 20_000;
const root = fileURLToPath(new URL("..", import.meta.url));
const filter = process.argv[2] ? new RegExp(process.argv[2]) : null;
const files = readdirSync(new URL(".", import.meta.url))
  .filter((f) => f.endsWith(".test.ts") && (!filter || filter.test(f)))
  .sort();

const strip = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "");
let total = 0;
let passed = 0;
let skipped = 0;
const broken: string[] = [];
const started = performance.now();

for (const file of files) {
  const result = await new Promise<{ total: number; passed: number; skipped: number; code: number | null; timedOut: boolean }>((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "--import", "./test/helpers/preload.ts", "node_modules/uvu/bin.js", "test", `^${file.replace(/\./g, "\\.")}$`], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: process.env,
    });
    let out = "";
    // After uvu's summary a suite has nothing left to do; one that does not exit (a
    // failed `before` left servers open, say) is cut off soon rather than at the limit.
    let lingering: NodeJS.Timeout | undefined;
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      process.stdout.write(d);
      if (!lingering && /Duration:/.test(strip(out))) {
        lingering = setTimeout(() => {
          process.stdout.write(`\n  LINGER   ${file} printed its summary but did not exit; stopped\n`);
          child.kill("SIGKILL");
        }, LINGER_MS);
      }
    });
    child.stderr.on("data", (d: Buffer) => process.stderr.write(d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, SUITE_TIMEOUT_MS);
    child.on("close", (code) => {
      clearTimeout(timer);
      clearTimeout(lingering);
      const text = strip(out);
      const num = (label: string) => Number(text.match(new RegExp(`${label}:\\s+(\\d+)`))?.[1] ?? 0);
      resolve({ total: num("Total"), passed: num("Passed"), skipped: num("Skipped"), code, timedOut });
    });
  });
  if (result.timedOut) process.stdout.write(`\n  TIMEOUT  ${file} did not finish within ${SUITE_TIMEOUT_MS} ms\n`);
  const failedHere = result.total - result.passed - result.skipped;
  if (result.timedOut || result.code !== 0 || failedHere > 0 || result.total === 0) broken.push(file);
  total += Math.max(result.total, result.timedOut || result.total === 0 ? 1 : 0);
  passed += result.passed;
  skipped += result.skipped;
}

const seconds = ((performance.now() - started) / 1000).toFixed(1);
process.stdout.write(`\n  Suites:    ${files.length}${broken.length ? ` (failing: ${broken.join(", ")})` : ""}\n`);
process.stdout.write(`  Total:     ${total}\n  Passed:    ${passed}\n  Skipped:   ${skipped}\n  Duration:  ${seconds}s\n`);
process.exit(broken.length > 0 || files.length === 0 ? 1 : 0);
