// SMS adapter shaped like Twilio's Messages API:
//   POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json
//   form-encoded To, From, Body; HTTP basic auth AccountSid:AuthToken; answers JSON {sid}.
// Configured by SMS_API_URL = https://{AccountSid}:{AuthToken}@api.twilio.com?from=+1555…
// (the dev inbox accepts the defaults ACdev / dev, from FUEL).
import { ProviderError } from "../classify.js";
import { providerFetch, splitProviderUrl } from "./http.js";
import { PROVIDER_TIMEOUT_MS, type SmsMessage, type SmsProvider } from "./types.js";

export function createSmsProvider(apiUrl: string | undefined, timeoutMs = PROVIDER_TIMEOUT_MS): SmsProvider {
  if (!apiUrl) return { send: async () => Promise.reject(new ProviderError({ kind: "not_configured" })) };
  const { base, user, pass, params } = splitProviderUrl(apiUrl);
  const accountSid = user || "ACdev";
  const authToken = pass || "dev";
  const from = params.get("from") || "FUEL";
  const endpoint = `${base}/2010-04-01/Accounts/${encodeURIComponent(accountSid)}/Messages.json`;
  const authorization = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString("base64")}`;
  return {
    async send(msg: SmsMessage) {
      const res = await providerFetch(
        endpoint,
        {
          method: "POST",
          headers: { authorization, "content-type": "application/x-www-form-urlencoded", accept: "application/json" },
          body: new URLSearchParams({ To: msg.to, From: from, Body: msg.body }).toString(),
        },
        timeoutMs,
      );
      if (res.status < 200 || res.status > 299) {
        const code = typeof res.json?.code === "number" ? res.json.code : undefined;
        throw new ProviderError({ kind: "http", status: res.status, code });
      }
      const sid = res.json?.sid;
      if (typeof sid !== "string" || sid === "") throw new ProviderError({ kind: "bad_response" });
      return { providerMessageId: sid };
    },
  };
}
