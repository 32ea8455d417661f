// A pod's process started here as its container runs it: the Dockerfile's CMD, with the
// environment the pod gets, under bubblewrap when it is installed and we are root: the
// root filesystem read-only, the code mounted at /srv (as the image has it at /app, away
// from folders the pod's user may not enter), a fresh world-writable /tmp as the pod's
// emptyDir, uid and gid 1000 (the image's `node` user), and nothing else writable but the
// folders named. Without bubblewrap it is a plain child
// process, which shows the environment starts it but not that a read-only root does.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { meshReady } from "../../bin/system.js";
import { MESH_START_MS } from "./mesh-child.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
/** An empty folder every Debian root has, for the code (the image's WORKDIR is /app, which a read-only root here lacks). */
const APP = "/srv";
/** The image's user (`node` in the official Node images). */
const POD_UID = "1000";
/** PATH as the image sets it. */
const IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** Whether pods here run under bubblewrap (`bwrap` installed, and root to switch to uid 1000). */
export function sandboxed(): boolean {
  return process.getuid?.() === 0 && spawnSync("bwrap", ["--version"], { stdio: "ignore" }).status === 0;
}

/** The Dockerfile's CMD (exec form), with this machine's node for `node`. */
export function imageCommand(): string[] {
  const line = readFileSync(`${ROOT}Dockerfile`, "utf8").split("\n").find((l) => l.startsWith("CMD "));
  if (!line) throw new Error("the Dockerfile has no CMD");
  const cmd = JSON.parse(line.slice(4)) as string[];
  return cmd.map((part, i) => (i === 0 && part === "node" ? process.execPath : part));
}

export interface Pod {
  proc: ChildProcess;
  /** Whether it runs under the read-only sandbox. */
  sandboxed: boolean;
  /** SIGTERM to the pod's processes (bubblewrap passes no signal on), as the kubelet stops a container; resolves when they are gone. */
  stop(): Promise<void>;
}

/** The process bubblewrap started (Linux lists a task's children in /proc). */
function sandboxChild(pid: number): number | undefined {
  try {
    const first = readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/)[0];
    return first ? Number(first) : undefined;
  } catch {
    return undefined;
  }
}

/** Starts a pod's process with exactly `env` and resolves once it serves; `writable` folders stay writable. */
export async function startPod(env: Record<string, string>, writable: string[]): Promise<Pod> {
  const [cmd, ...args] = imageCommand();
  const sandbox = sandboxed();
  const proc = sandbox
    ? spawn("bwrap", [
        "--ro-bind", "/", "/",
        "--ro-bind", ROOT, APP,
        "--dev", "/dev",
        "--proc", "/proc",
        "--perms", "1777", "--tmpfs", "/tmp",
        ...writable.flatMap((dir) => ["--bind", dir, dir]),
        "--chdir", APP,
        "--die-with-parent",
        "setpriv", "--reuid", POD_UID, "--regid", POD_UID, "--clear-groups",
        cmd!, ...args,
      ], { env: { PATH: IMAGE_PATH, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true })
    : spawn(cmd!, args, { cwd: ROOT, env: { PATH: IMAGE_PATH, ...env }, stdio: ["ignore", "pipe", "pipe"], detached: true });
  const gone = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      // The pod's own process gets the SIGTERM; bubblewrap then reaps it and exits.
      const target = sandbox ? sandboxChild(proc.pid!) ?? -proc.pid! : -proc.pid!;
      try {
        process.kill(target, "SIGTERM");
      } catch {
        // already gone
      }
    }
    await gone;
  };
  try {
    await meshReady(proc, MESH_START_MS);
  } catch (err) {
    await stop();
    throw err;
  }
  return { proc, sandboxed: sandbox, stop };
}
