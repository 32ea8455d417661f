// TransactionService in a child process of its own (bin/mesh.ts with SERVICES=transaction),
// for the suites that kill it (transaction-crash) or cut its Redis (transaction-redis). The
// rest of the system runs in the test process and reaches the child at a fixed address, as
// it would reach a replica on another host; the child uses the suite's database and Redis.
import { freePort } from "../../bin/system.js";
import { SERVICE_NAMES } from "../../platform/config.js";
import { ServiceChild } from "./service-child.js";
import { startTestSystem, type TestSystem } from "./system.js";

/** The system without TransactionService, which is expected at `port` (the child's). */
export async function systemAroundChild(): Promise<{ sys: TestSystem; port: number }> {
  const port = await freePort();
  const sys = await startTestSystem({
    services: SERVICE_NAMES.filter((s) => s !== "transaction"),
    mutate: (cfg) => {
      cfg.ports.transaction = port;
      cfg.urls.transaction = `http://127.0.0.1:${port}`;
    },
  });
  return { sys, port };
}

/** TransactionService in its child, at the port `systemAroundChild` left for it. */
export class TransactionChild extends ServiceChild {
  constructor(sys: TestSystem, port: number, redisUrl = process.env.REDIS_URL) {
    // Sales need a QR each, and these suites make more than a driver may issue a minute.
    super("transaction", sys, port, { redisUrl, env: { TRANSACTION_QR_PER_MINUTE: "10000" } });
  }
}
