// PLACEHOLDER interface — the payment work replaces this with the simulated payment
// gateway: a real separate HTTP process that accepts charges and later posts signed
// webhooks back to us, the way a real gateway does.
export interface SimulatedGateway {
  /** Base URL of the gateway's API. */
  url: string;
  close(): Promise<void>;
}

export async function startSimulatedGateway(_opts: { webhookUrl: string; webhookSecret: string; host?: string }): Promise<SimulatedGateway> {
  return { url: "http://127.0.0.1:9", close: async () => undefined };
}
