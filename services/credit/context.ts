// What CreditService's handlers and background work share, built once per running
// instance: its settings, read and checked at start (common.ts names each one).
import type { ServiceDeps } from "../../platform/service.js";
import { settingsFromEnv, type CreditSettings } from "./common.js";

export interface CreditContext extends ServiceDeps {
  settings: CreditSettings;
}

export function creditContext(deps: ServiceDeps): CreditContext {
  return { ...deps, settings: settingsFromEnv(deps.cfg.env) };
}
