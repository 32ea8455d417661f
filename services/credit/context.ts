// What CreditService's handlers and background work share, built once per running
// instance: its settings, read and checked at start (common.ts names each one), and the
// reads behind its gauges on /metrics (metrics.ts), of its own pool and clock, and the
// holds it placed lately, which spare their capture a read (recent-holds.ts).
import type { ServiceDeps } from "../../platform/service.js";
import { settingsFromEnv, type CreditSettings } from "./common.js";
import { creditSamples, type CreditSamples } from "./metrics.js";
import { RecentHolds } from "./recent-holds.js";

export interface CreditContext extends ServiceDeps {
  settings: CreditSettings;
  samples: CreditSamples;
  recentHolds: RecentHolds;
}

export function creditContext(deps: ServiceDeps): CreditContext {
  return { ...deps, settings: settingsFromEnv(deps.cfg.env), samples: creditSamples(deps.pool, deps.now), recentHolds: new RecentHolds() };
}
