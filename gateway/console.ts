// /console/: the back office in the browser. Its files (console-static.ts) and its
// session endpoints (console-session.ts) on the public port; everything else the page
// does is ordinary public RPCs through the gateway, as any client makes them.
import type { Mesh } from "../platform/mesh.js";
import type { NodeHandler } from "./edge.js";
import { consoleSession, SESSION_PATH } from "./console-session.js";
import { consoleStatic } from "./console-static.js";
import { tracedRoute } from "./plain-trace.js";

export const CONSOLE_PREFIX = "/console/";

export function consoleRoutes(mesh: Mesh): Record<string, NodeHandler> {
  const session = tracedRoute(SESSION_PATH, consoleSession(mesh));
  const files = consoleStatic();
  return {
    "/console": (_req, res) => {
      res.writeHead(308, { location: CONSOLE_PREFIX });
      res.end();
    },
    // A key ending in "/" serves every path under it (gateway/index.ts).
    [CONSOLE_PREFIX]: (req, res) => {
      const path = (req.url ?? "/").split("?")[0]!;
      return path.startsWith(SESSION_PATH) ? session(req, res) : files(req, res);
    },
  };
}
