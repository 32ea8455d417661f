// Plain HTTP endpoints on the public port, beside the RPCs.
import { create } from "@bufbuild/protobuf";
import { AuthService, GetJwksRequestSchema } from "../gen/fuel/auth/v1/auth_pb.js";
import type { Config } from "../platform/config.js";
import type { Mesh } from "../platform/mesh.js";
import type { NodeHandler } from "./edge.js";
import { webhookRoute } from "./webhook.js";

export const gatewayHttpRoutes = (mesh: Mesh, relay: Mesh, cfg: Config): Record<string, NodeHandler> => ({
  // Deliveries are from the gateway PaymentService records payments at (one setting for both).
  "/payments/webhook/reconcile": webhookRoute(relay, cfg.paymentGatewayName),
  // The standard location banks' JWT libraries look for verification keys.
  "/.well-known/jwks.json": (req, res) => {
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
  },
});
