// What AuthService's handlers share, built once per running instance: its settings, the
// signing keys, session issuance and the OTP login built on them.
import type { ServiceDeps } from "../../platform/service.js";
import { SigningKeys } from "./keys.js";
import { OtpLogin } from "./otp.js";
import { Sessions } from "./session.js";
import { authSettingsFromEnv, type AuthSettings } from "./settings.js";

export interface AuthContext extends ServiceDeps {
  settings: AuthSettings;
  keys: SigningKeys;
  sessions: Sessions;
  login: OtpLogin;
}

export function authContext(deps: ServiceDeps): AuthContext {
  const settings = authSettingsFromEnv(deps.cfg.env);
  const keys = new SigningKeys(deps.pool, deps.now);
  const sessions = new Sessions(deps, settings, keys);
  return { ...deps, settings, keys, sessions, login: new OtpLogin(deps, settings, sessions, keys) };
}
