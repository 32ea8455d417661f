// Container health probe: asks this container's own server grpc.health.v1.Health/Check
// over gRPC and exits 0 only for SERVING (docker-compose; Kubernetes uses its native
// gRPC probe against the same service).
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { loadConfig } from "../platform/config.js";

const cfg = loadConfig();
const port = cfg.gateway ? cfg.gatewayPort : cfg.ports[cfg.services[0]!];
const client = createClient(Health, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
client
  .check({}, { timeoutMs: 2_000 })
  .then((r) => process.exit(r.status === HealthCheckResponse_ServingStatus.SERVING ? 0 : 1))
  .catch(() => process.exit(1));
