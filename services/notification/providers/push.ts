// Push adapter shaped like Firebase Cloud Messaging HTTP v1:
//   POST {base}/v1/projects/{project}/messages:send
//   JSON {message: {token, notification: {title, body}, data}}, Bearer auth; answers {name}.
// Configured by PUSH_API_URL = https://:{AccessToken}@fcm.googleapis.com?project={id}
// (the dev inbox accepts the defaults: project fuel-dev, token dev).
import { ProviderError } from "../classify.js";
import { providerFetch, splitProviderUrl } from "./http.js";
import { PROVIDER_TIMEOUT_MS, type PushMessage, type PushProvider } from "./types.js";

export function createPushProvider(apiUrl: string | undefined, timeoutMs = PROVIDER_TIMEOUT_MS): PushProvider {
  if (!apiUrl) return { send: async () => Promise.reject(new ProviderError({ kind: "not_configured" })) };
  const { base, pass, params } = splitProviderUrl(apiUrl);
  const project = params.get("project") || "fuel-dev";
  const endpoint = `${base}/v1/projects/${encodeURIComponent(project)}/messages:send`;
  const authorization = `Bearer ${pass || "dev"}`;
  return {
    async send(msg: PushMessage) {
      const res = await providerFetch(
        endpoint,
        {
          method: "POST",
          headers: { authorization, "content-type": "application/json", accept: "application/json" },
          body: JSON.stringify({ message: { token: msg.token, notification: { title: msg.title, body: msg.body }, data: msg.data } }),
        },
        timeoutMs,
      );
      if (res.status < 200 || res.status > 299) {
        const error = res.json?.error as { status?: unknown; details?: Array<{ errorCode?: unknown }> } | undefined;
        // FCM puts its own code (UNREGISTERED, QUOTA_EXCEEDED…) in details[].errorCode.
        const fcmCode = error?.details?.find((d) => typeof d?.errorCode === "string")?.errorCode;
        const code = typeof fcmCode === "string" ? fcmCode : typeof error?.status === "string" ? error.status : undefined;
        throw new ProviderError({ kind: "http", status: res.status, code });
      }
      const name = res.json?.name;
      if (typeof name !== "string" || name === "") throw new ProviderError({ kind: "bad_response" });
      return { providerMessageId: name };
    },
  };
}
