// The adapters the outbox worker delivers through. Each resolves with the provider's
// message id or throws a ProviderError (retryable or permanent); each bounds its own time.

export interface SmsMessage {
  to: string;
  body: string;
}
export interface EmailMessage {
  to: string;
  subject: string;
  text: string;
  html?: string;
}
export interface PushMessage {
  token: string;
  title: string;
  body: string;
  data: Record<string, string>;
}

export interface SmsProvider {
  send(msg: SmsMessage): Promise<{ providerMessageId: string }>;
}
export interface EmailProvider {
  send(msg: EmailMessage): Promise<{ providerMessageId: string }>;
  close?(): void;
}
export interface PushProvider {
  send(msg: PushMessage): Promise<{ providerMessageId: string }>;
}

export interface Providers {
  sms: SmsProvider;
  email: EmailProvider;
  push: PushProvider;
}

/** Default bound on one provider call. */
export const PROVIDER_TIMEOUT_MS = 10_000;
