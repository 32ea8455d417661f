// The payment gateway adapter. PaymentService talks to a gateway only through
// `PaymentGateway`; `HttpPaymentGateway` speaks the REST shape the simulated gateway
// serves (and that hosted-checkout gateways commonly use):
//   POST /v1/payments            {reference, amount_minor, currency, description, method,
//                                 return_url, expires_at}   Idempotency-Key: <payment_id>
//                                 → 201/200 {id, reference, status: "pending", checkout_url, …}
//   GET  /v1/payments/{id}       → the payment, with its current status
//   GET  /v1/payments?reference= → {data: [payment]}
// Amounts travel as decimal strings of minor units, never JSON numbers. Every request is
// bounded by a timeout; network errors, timeouts, 429 and 5xx are transient.
export type GatewayStatus = "pending" | "succeeded" | "failed" | "expired";

export interface GatewayPayment {
  id: string;
  reference: string;
  status: GatewayStatus;
  amountMinor: bigint;
  currency: string;
  checkoutUrl: string;
  /** What was collected, once the gateway reports it. */
  received?: { amount: bigint; currency: string };
  failureCode: string;
  failureMessage: string;
  updatedAt: Date | null;
}

export interface CreatePaymentInput {
  reference: string;
  amountMinor: bigint;
  currency: string;
  description: string;
  method: string;
  returnUrl: string;
  expiresAt: Date;
}

export interface PaymentGateway {
  /** Adapter name, recorded on each payment ("simulated"). */
  readonly name: string;
  createPayment(input: CreatePaymentInput, idempotencyKey: string): Promise<GatewayPayment>;
  getPayment(id: string): Promise<GatewayPayment | null>;
  findByReference(reference: string): Promise<GatewayPayment | null>;
}

export class GatewayError extends Error {
  constructor(message: string, readonly transient: boolean, readonly status?: number) {
    super(message);
    this.name = "GatewayError";
  }
}

const STATUSES: readonly GatewayStatus[] = ["pending", "succeeded", "failed", "expired"];
const MINOR = /^-?\d{1,19}$/;

/** Parses one payment object of the gateway's API; throws GatewayError on a bad shape. */
export function parseGatewayPayment(x: unknown): GatewayPayment {
  const o = x as Record<string, unknown> | null;
  const str = (k: string) => (typeof o?.[k] === "string" ? (o[k] as string) : "");
  const minor = (k: string): bigint | undefined => {
    const v = o?.[k];
    const s = typeof v === "number" && Number.isSafeInteger(v) ? String(v) : typeof v === "string" ? v : "";
    return MINOR.test(s) ? BigInt(s) : undefined;
  };
  const status = str("status") as GatewayStatus;
  const amountMinor = minor("amount_minor");
  if (!o || !str("id") || !STATUSES.includes(status) || amountMinor === undefined || !str("currency")) {
    throw new GatewayError("gateway answered with a malformed payment", false);
  }
  const receivedMinor = minor("amount_received_minor");
  const updated = str("updated_at");
  return {
    id: str("id"),
    reference: str("reference"),
    status,
    amountMinor,
    currency: str("currency"),
    checkoutUrl: str("checkout_url"),
    received: receivedMinor === undefined ? undefined : { amount: receivedMinor, currency: str("received_currency") || str("currency") },
    failureCode: str("failure_code"),
    failureMessage: str("failure_message"),
    updatedAt: updated && !Number.isNaN(Date.parse(updated)) ? new Date(updated) : null,
  };
}

export class HttpPaymentGateway implements PaymentGateway {
  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs: number,
    readonly name = "simulated",
    private readonly apiKey?: string,
  ) {}

  private async call(method: "GET" | "POST", path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: unknown }> {
    let res: Response;
    try {
      res = await fetch(new URL(path, this.baseUrl), {
        method,
        headers: {
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      const e = err as Error;
      throw new GatewayError(e.name === "TimeoutError" ? `timed out after ${this.timeoutMs} ms` : "unreachable", true);
    }
    let json: unknown = null;
    try {
      const text = await res.text();
      json = text ? JSON.parse(text) : null;
    } catch {
      if (res.ok) throw new GatewayError("gateway answered with invalid JSON", true, res.status);
    }
    if (res.status === 429 || res.status >= 500) throw new GatewayError(`gateway answered ${res.status}`, true, res.status);
    return { status: res.status, json };
  }

  async createPayment(input: CreatePaymentInput, idempotencyKey: string): Promise<GatewayPayment> {
    const { status, json } = await this.call(
      "POST",
      "/v1/payments",
      {
        reference: input.reference,
        amount_minor: input.amountMinor.toString(),
        currency: input.currency,
        description: input.description,
        method: input.method,
        return_url: input.returnUrl,
        expires_at: input.expiresAt.toISOString(),
      },
      { "idempotency-key": idempotencyKey },
    );
    if (status !== 200 && status !== 201) {
      const msg = (json as { error?: { message?: string } } | null)?.error?.message ?? `status ${status}`;
      throw new GatewayError(`gateway refused the payment: ${msg}`, false, status);
    }
    return parseGatewayPayment(json);
  }

  async getPayment(id: string): Promise<GatewayPayment | null> {
    const { status, json } = await this.call("GET", `/v1/payments/${encodeURIComponent(id)}`);
    if (status === 404) return null;
    if (status !== 200) throw new GatewayError(`gateway answered ${status}`, false, status);
    return parseGatewayPayment(json);
  }

  async findByReference(reference: string): Promise<GatewayPayment | null> {
    const { status, json } = await this.call("GET", `/v1/payments?reference=${encodeURIComponent(reference)}`);
    if (status !== 200) throw new GatewayError(`gateway answered ${status}`, false, status);
    const data = (json as { data?: unknown[] } | null)?.data;
    if (!Array.isArray(data) || data.length === 0) return null;
    return parseGatewayPayment(data[0]);
  }
}

/** The adapter used when no gateway address is configured: every call is transient. */
export class UnconfiguredGateway implements PaymentGateway {
  constructor(readonly name: string) {}
  private fail(): never {
    throw new GatewayError("no payment gateway configured (PAYMENT_GATEWAY_URL)", true);
  }
  createPayment(): never {
    return this.fail();
  }
  getPayment(): never {
    return this.fail();
  }
  findByReference(): never {
    return this.fail();
  }
}
