// Spans reach an OpenTelemetry collector, each under the service that made it. A small
// OTLP/HTTP receiver stands in for the collector (the exporter posts JSON to /v1/traces);
// the whole system runs in this process, where one tracer provider per service must
// still file every span — the RPC's own, a hop's client span, the pg queries it ran —
// under its own service.name, with the platform's OTEL_RESOURCE_ATTRIBUTES (as
// Kubernetes sets them) on every resource. A QR code through the gateway (Connect JSON,
// forwarded), a terminal's Authorize and its Settle (gRPC): each trace spans its hops
// under the trace id its caller was given.
import { randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import { gunzipSync } from "node:zlib";
import * as assert from "uvu/assert";
import { FuelType } from "../gen/fuel/common/v1/common_pb.js";
import { TransactionService } from "../gen/fuel/transaction/v1/transaction_pb.js";
import { ConfigError, loadConfig } from "../platform/config.js";
import { MAX_RESOURCE_ATTRIBUTES, parseResourceAttributes } from "../platform/resource-attributes.js";
import { flushTracing } from "../platform/tracing.js";
import { defaultServiceName, freePort } from "../bin/system.js";
import { creditSuite, Fixtures } from "./credit-fixtures.js";
import { authorizeRequest, saleWorld, settleRequest, type SaleWorld } from "./helpers/sale-world.js";
import { startTestSystem, type TestSystem } from "./helpers/system.js";

const test = creditSuite("otlp");

/** One exported span with the resource it came under. */
interface ReceivedSpan {
  service: string;
  resource: Record<string, string>;
  scope: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 2 server, 3 client. */
  kind: number;
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
type Attr = { key: string; value: AnyValue };
interface ExportRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: Attr[] };
    scopeSpans?: Array<{ scope?: { name?: string }; spans?: Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string; kind: number }> }>;
  }>;
}

/** OTLP JSON carries ids in hex; base64 (the protobuf JSON mapping) is accepted too. */
const hexId = (id: string | undefined) => (!id ? "" : /^[0-9a-f]+$/.test(id) ? id : Buffer.from(id, "base64").toString("hex"));
const text = (v: AnyValue) => String(v.stringValue ?? v.intValue ?? v.boolValue ?? v.doubleValue ?? "");

class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly contentTypes = new Set<string>();
  private server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.port = await freePort();
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (req.method !== "POST" || req.url !== "/v1/traces") {
          res.writeHead(404).end();
          return;
        }
        this.contentTypes.add(String(req.headers["content-type"]));
        let body = Buffer.concat(chunks);
        if (req.headers["content-encoding"] === "gzip") body = gunzipSync(body);
        this.take(JSON.parse(body.toString("utf8")) as ExportRequest);
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, "127.0.0.1", resolve));
  }

  private take(req: ExportRequest): void {
    for (const rs of req.resourceSpans ?? []) {
      const resource = Object.fromEntries((rs.resource?.attributes ?? []).map((a) => [a.key, text(a.value)]));
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          this.spans.push({
            service: resource["service.name"] ?? "", resource, scope: ss.scope?.name ?? "",
            traceId: hexId(s.traceId), spanId: hexId(s.spanId), parentSpanId: hexId(s.parentSpanId), name: s.name, kind: s.kind,
          });
        }
      }
    }
  }

  trace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

const POD = "fuel-all-7d9f6c5b8-x2x4q";
let receiver: OtlpReceiver;
let sys: TestSystem;
let w: SaleWorld;

test.before(async () => {
  receiver = new OtlpReceiver();
  await receiver.start();
  sys = await startTestSystem({
    env: {
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiver.port}`,
      // As a Deployment sets it from the Downward API (a value percent-encoded, as the format asks).
      OTEL_RESOURCE_ATTRIBUTES: `k8s.pod.name=${POD},k8s.namespace.name=fuel-test,k8s.node.name=node%201,service.namespace=fuel`,
    },
  });
  w = await saleWorld(sys, await Fixtures.create(sys));
});
test.after(async () => {
  w?.pos.close();
  await sys?.stop();
  await receiver?.stop();
});

test("OTEL_RESOURCE_ATTRIBUTES: key=value pairs, percent-decoded; a malformed pair is named", () => {
  assert.equal(parseResourceAttributes("k8s.pod.name=p-1, k8s.node.name=a%2Cb ,,").attributes, { "k8s.pod.name": "p-1", "k8s.node.name": "a,b" });
  assert.equal(parseResourceAttributes(undefined), { attributes: {}, problems: [] });
  assert.match(parseResourceAttributes("k8s.pod.name").problems.join(), /"k8s.pod.name" must be key=value/);
  assert.match(parseResourceAttributes("=x").problems.join(), /must be key=value/);
  assert.match(parseResourceAttributes("a=%E0%A4%A").problems.join(), /not valid percent-encoding/);
  const many = Array.from({ length: MAX_RESOURCE_ATTRIBUTES + 1 }, (_, i) => `k${i}=v`).join(",");
  assert.match(parseResourceAttributes(many).problems.join(), /at most 64/);
  try {
    loadConfig({ OTEL_RESOURCE_ATTRIBUTES: "k8s.pod.name" });
    assert.unreachable("a malformed OTEL_RESOURCE_ATTRIBUTES stops the start");
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.match((err as ConfigError).message, /OTEL_RESOURCE_ATTRIBUTES/);
  }
});

test("spans no call claims take the one component a process runs, else the system's name", () => {
  assert.is(defaultServiceName(loadConfig({ SERVICES: "credit" })), "credit");
  assert.is(defaultServiceName(loadConfig({ SERVICES: "gateway" })), "gateway");
  assert.is(defaultServiceName(loadConfig({ SERVICES: "credit,transaction" })), "fuel");
  assert.is(defaultServiceName(loadConfig({})), "fuel");
  assert.is(defaultServiceName(loadConfig({ SERVICES: "credit", OTEL_SERVICE_NAME: "credit-eu" })), "credit-eu");
});

/** The spans of `traceId` once exported: flushes, then waits briefly for the receiver. */
async function exported(traceId: string, needServices: string[]): Promise<ReceivedSpan[]> {
  const deadline = performance.now() + 10_000;
  for (;;) {
    await flushTracing();
    const spans = receiver.trace(traceId);
    const services = new Set(spans.map((s) => s.service));
    if (needServices.every((n) => services.has(n)) || performance.now() > deadline) return spans;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The server span of `method` under `service` in `spans`, and the client span that called it (if any). */
function hop(spans: ReceivedSpan[], service: string, method: string): { server: ReceivedSpan; client: ReceivedSpan | undefined } {
  const server = spans.find((s) => s.service === service && s.name === method && s.kind === 2);
  assert.ok(server, `a server span ${method} under ${service}; got ${spans.map((s) => `${s.service}:${s.name}`).join(", ")}`);
  return { server: server!, client: spans.find((s) => s.spanId === server!.parentSpanId) };
}

function assertResources(spans: ReceivedSpan[]): void {
  for (const s of spans) {
    assert.is(s.resource["k8s.pod.name"], POD, `${s.service}:${s.name}`);
    assert.is(s.resource["k8s.namespace.name"], "fuel-test");
    assert.is(s.resource["k8s.node.name"], "node 1");
    assert.is(s.resource["service.namespace"], "fuel");
    assert.ok(s.resource["service.instance.id"]);
  }
}

test("a QR code through the gateway: gateway → transaction → kyc and credit, one trace, each under its name", async () => {
  let traceId = "";
  await w.app.generateQrCode({ fuelType: FuelType.PETROL }, { headers: { "idempotency-key": randomUUID() }, onHeader: (h) => (traceId = h.get("x-trace-id") ?? "") });
  assert.match(traceId, /^[0-9a-f]{32}$/);
  const spans = await exported(traceId, ["gateway", "transaction", "kyc", "credit"]);
  const method = "fuel.transaction.v1.TransactionService/GenerateQrCode";
  const inTx = hop(spans, "transaction", method);
  assert.is(inTx.client?.service, "gateway", "the gateway's forwarding call is the transaction span's parent");
  assert.ok(spans.some((s) => s.service === "gateway" && s.name === method && s.kind === 2), "the gateway's own server span");
  const driver = hop(spans, "kyc", "fuel.kyc.v1.KycService/GetDriver");
  assert.is(driver.client?.service, "transaction", "the hop's client span is transaction's");
  hop(spans, "credit", "fuel.credit.v1.CreditService/GetAvailableCredit");
  assert.ok(receiver.contentTypes.has("application/json"), [...receiver.contentTypes].join());
  assertResources(spans);
});

test("a sale: Authorize and Settle each trace transaction → credit (→ loan), pg spans under the service that queried", async () => {
  const qr = await w.app.generateQrCode({ fuelType: FuelType.PETROL }, { headers: { "idempotency-key": randomUUID() } });
  const auth = await w.pos.unary(TransactionService.method.authorize, authorizeRequest(w, qr.qrCode!.payload, 50_000n), { "idempotency-key": randomUUID() });
  const authTrace = String(auth.headers.get("x-trace-id")[0]);
  const settle = await w.pos.unary(TransactionService.method.settle, settleRequest(auth.message.transaction!.transactionId, 500n), { "idempotency-key": randomUUID() });
  const settleTrace = String(settle.headers.get("x-trace-id")[0]);
  assert.is.not(authTrace, settleTrace);

  const a = await exported(authTrace, ["transaction", "credit"]);
  const hold = hop(a, "credit", "fuel.credit.v1.CreditService/Hold");
  assert.is(hold.client?.service, "transaction");
  assert.is(hold.client?.kind, 3, "a client span");
  const pgUnder = (spans: ReceivedSpan[], service: string) => spans.some((s) => s.service === service && s.scope.includes("instrumentation-pg"));
  assert.ok(pgUnder(a, "credit"), "credit's queries are credit's spans");
  assert.ok(pgUnder(a, "transaction"), "transaction's queries are transaction's spans");
  assert.not.ok(a.some((s) => s.service === "fuel"), "no span of the trace falls to the process's default name");

  const s = await exported(settleTrace, ["transaction", "credit", "loan"]);
  hop(s, "transaction", "fuel.transaction.v1.TransactionService/Settle");
  assert.is(hop(s, "credit", "fuel.credit.v1.CreditService/Capture").client?.service, "transaction");
  assert.is(hop(s, "loan", "fuel.loan.v1.LoanService/CreateLoanFromSettlement").client?.service, "transaction");
  assert.ok(pgUnder(s, "loan"));
  assertResources([...a, ...s]);
});

test.run();
