// E-mail adapter: SMTP through nodemailer. Configured by SMTP_URL =
// smtp[s]://[user:pass@]host:port[?from=Name%20<addr>]; every connection step is bounded.
import nodemailer, { type Transporter } from "nodemailer";
import { ProviderError } from "../classify.js";
import { PROVIDER_TIMEOUT_MS, type EmailMessage, type EmailProvider } from "./types.js";

export const DEFAULT_FROM = "Fuel Clearinghouse <no-reply@fuel.local>";

export function createEmailProvider(smtpUrl: string | undefined, timeoutMs = PROVIDER_TIMEOUT_MS): EmailProvider {
  if (!smtpUrl) return { send: async () => Promise.reject(new ProviderError({ kind: "not_configured" })) };
  const u = new URL(smtpUrl);
  const secure = u.protocol === "smtps:";
  const from = u.searchParams.get("from") || DEFAULT_FROM;
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  const transport: Transporter = nodemailer.createTransport({
    host: u.hostname,
    port: u.port ? Number(u.port) : secure ? 465 : 587,
    secure,
    auth: user ? { user, pass } : undefined,
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
    dnsTimeout: timeoutMs,
    logger: false,
    debug: false,
  });
  return {
    async send(msg: EmailMessage) {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ProviderError({ kind: "timeout" })), timeoutMs * 2);
      });
      try {
        const info = (await Promise.race([
          transport.sendMail({ from, to: msg.to, subject: msg.subject, text: msg.text, html: msg.html || undefined }),
          deadline,
        ])) as { messageId?: string; rejected?: unknown[] };
        if (Array.isArray(info.rejected) && info.rejected.length > 0) {
          throw new ProviderError({ kind: "smtp", responseCode: 550 });
        }
        return { providerMessageId: info.messageId ?? "" };
      } catch (err) {
        if (err instanceof ProviderError) throw err;
        const e = err as { code?: string; responseCode?: number };
        throw new ProviderError({ kind: "smtp", responseCode: typeof e.responseCode === "number" ? e.responseCode : undefined, code: e.code });
      } finally {
        clearTimeout(timer);
      }
    },
    close() {
      transport.close();
    },
  };
}
