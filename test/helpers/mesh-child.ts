// The mesh (bin/mesh.ts) in a child process, for suites that must see it crash, restart
// or drain as a deployment would: one way to start it, read its JSON log lines and know
// when it serves, and one way to wait for it to be gone.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { meshReady } from "../../bin/system.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** How long a child may take to print its ready line. */
export const MESH_START_MS = 30_000;

/** One JSON log line of the child (pino), for tests that wait on what it logs. */
export type LogLine = Record<string, unknown> & { msg?: string };

export interface StartedMesh {
  proc: ChildProcess;
  /** performance.now() when the child printed its ready line. */
  readyAt: number;
}

/**
 * Starts `bin/mesh.ts` with exactly `env` (nothing inherited but what `env` names; its
 * /metrics on any free port unless `env` names METRICS_PORT, so children started
 * together never collide) and resolves once it serves; `onLog` hears each JSON line it
 * writes to stdout.
 */
export async function startMesh(env: Record<string, string>, onLog?: (line: LogLine) => void): Promise<StartedMesh> {
  const proc = spawn(process.execPath, ["--import", "tsx", "bin/mesh.ts"], { cwd: ROOT, env: { METRICS_PORT: "0", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  if (onLog) {
    let partial = "";
    proc.stdout!.on("data", (c: Buffer) => {
      const lines = (partial + c.toString()).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.startsWith("{")) continue;
        try {
          onLog(JSON.parse(line) as LogLine);
        } catch {
          // not a log line
        }
      }
    });
  }
  await meshReady(proc, MESH_START_MS);
  return { proc, readyAt: performance.now() };
}

/** Resolves with the signal that ended `p` (null for a plain exit) once it is gone. */
export const exited = (p: ChildProcess) =>
  new Promise<NodeJS.Signals | null>((resolve) =>
    p.exitCode !== null || p.signalCode !== null ? resolve(p.signalCode) : p.once("exit", (_c, sig) => resolve(sig)));
