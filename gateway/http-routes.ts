// Plain HTTP endpoints on the public port, beside the RPCs. Each runs in a server span of
// its own, so its answer carries `x-trace-id` and the calls it makes continue the trace.
import { create } from "@bufbuild/protobuf";
import { AuthService, GetJwksRequestSchema } from "../gen/fuel/auth/v1/auth_pb.js";
import type { Mesh } from "../platform/mesh.js";
import { consoleRoutes } from "./console.js";
import type { NodeHandler } from "./edge.js";
import { tracedRoute } from "./plain-trace.js";
import { WEBHOOK_PATH, webhookRoute } from "./webhook.js";

/**
 * The routes, given the name of the payment gateway webhooks come from: the one
 * PaymentService records payments at (PAYMENT_GATEWAY_NAME, read by both).
 */
export const gatewayHttpRoutes = (paymentGatewayName: string) => (mesh: Mesh, relay: Mesh): Record<string, NodeHandler> => ({
  [WEBHOOK_PATH]: tracedRoute(WEBHOOK_PATH, webhookRoute(relay, paymentGatewayName)),
  // The back office in the browser: its page, and the session endpoints that keep its
  // refresh token in a cookie.
  ...consoleRoutes(mesh),
  // The standard location banks' JWT libraries look for verification keys.
  "/.well-known/jwks.json": tracedRoute("/.well-known/jwks.json", (_req, res) => {
    mesh
      .client(AuthService)
      .getJwks(create(GetJwksRequestSchema), { timeoutMs: 5_000 })
      .then((r) => {
        res.writeHead(200, { "content-type": "application/jwk-set+json", "cache-control": `public, max-age=${r.maxAgeSeconds}` });
        res.end(r.jwksJson);
      })
      .catch(() => {
        res.writeHead(503, { "content-type": "application/json" });
        res.end(JSON.stringify({ code: "unavailable", message: "keys unavailable" }));
      });
  }),
});
