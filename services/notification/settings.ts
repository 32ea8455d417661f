// NotificationService's own settings: where each channel's provider is. Read once per
// instance from the environment the process was configured with; every bad value is named
// together and stops the start. A channel with no provider keeps its deliveries failing
// as not configured (providers/*.ts); in development bin/system.ts points all three at
// the dev inbox instead.
import { ConfigError, readUrl } from "../../platform/config.js";

type Env = Readonly<Record<string, string | undefined>>;

export interface NotificationSettings {
  /** Twilio-shaped SMS API (SMS_API_URL, https://SID:TOKEN@host?from=…). */
  smsApiUrl: string | undefined;
  /** SMTP server (SMTP_URL, smtp[s]://user:pass@host:port?from=…). */
  smtpUrl: string | undefined;
  /** FCM-shaped push API (PUSH_API_URL, https://:TOKEN@host?project=…). */
  pushApiUrl: string | undefined;
}

export function notificationSettingsFromEnv(env: Env): NotificationSettings {
  const problems: string[] = [];
  const url = (name: string, protocols: string[]): string | undefined => {
    const r = readUrl(env, name, protocols);
    if (r.problem) problems.push(r.problem);
    return r.value;
  };
  const settings: NotificationSettings = {
    smtpUrl: url("SMTP_URL", ["smtp:", "smtps:"]),
    smsApiUrl: url("SMS_API_URL", ["http:", "https:"]),
    pushApiUrl: url("PUSH_API_URL", ["http:", "https:"]),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return settings;
}
