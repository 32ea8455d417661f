// The console's files (console/build.ts writes them to console/dist/), served under
// /console/ with a Content-Security-Policy of their own: the edge's `default-src 'none'`
// suits RPC answers, not a page that runs its own script and styles. Only the files the
// build writes are served, by name: nothing else on disk is reachable from here.
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { NodeHandler } from "./edge.js";

export const CONSOLE_DIST = fileURLToPath(new URL("../console/dist/", import.meta.url));

/** Scripts and styles from this origin only (no inline script or style), calls to this origin only. */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const FILES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "styles.css": "text/css; charset=utf-8",
};

/** Files are read once per process: the build runs before the gateway starts. */
const cache = new Map<string, Buffer>();

async function load(name: string): Promise<Buffer | null> {
  const hit = cache.get(name);
  if (hit) return hit;
  try {
    const body = await readFile(CONSOLE_DIST + name);
    cache.set(name, body);
    return body;
  } catch {
    return null;
  }
}

/** GET /console/<file>; `/console/` is the page itself. */
export function consoleStatic(): NodeHandler {
  return (req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    const name = path === "/console/" ? "index.html" : path.slice("/console/".length);
    const type = FILES[name];
    res.setHeader("content-security-policy", CONSOLE_CSP);
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
      return void res.end("method not allowed\n");
    }
    if (!type) {
      res.writeHead(404, { "content-type": "text/plain; charset=utf-8" });
      return void res.end("not found\n");
    }
    void load(name).then((body) => {
      if (!body) {
        res.writeHead(503, { "content-type": "text/plain; charset=utf-8" });
        return void res.end("the console is not built: run `node --import tsx console/build.ts` (npm start does)\n");
      }
      res.writeHead(200, { "content-type": type, "content-length": body.length });
      if (req.method === "HEAD") res.end();
      else res.end(body);
    });
  };
}
