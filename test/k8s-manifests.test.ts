// deploy/k8s, checked offline: both overlays are rendered with `kubectl kustomize` (what
// `kubectl apply -k` sends), every rendered object is checked against the Kubernetes API
// schema (test/helpers/k8s-schema.ts: a misspelt field fails), and then the properties
// the deployment promises: gRPC probes on the right health entries, requests and limits,
// the restricted security context, Secrets only by reference, a PodDisruptionBudget and
// an autoscaler per Deployment, service URLs that name headless Services that exist, and
// an environment each container starts with (the configuration's production rules and
// each service's own settings). Without a usable kubectl the rendering checks cannot run:
// outside CI the suite says so and runs the rest; in CI (CI=true) that is a failure.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import {
  baseFiles,
  BASE_DIR,
  DOCUMENTS_CLAIM,
  headlessName,
  METRICS_PORT,
  PRE_STOP_SLEEP_SECONDS,
} from "../deploy/k8s/generate-base.js";
import { DEFAULT_PORTS, loadConfig, SERVICE_NAMES, type ServiceName } from "../platform/config.js";
import { DATABASE_DOWN } from "../platform/runtime.js";
import { DRAINING, HealthState, LIVENESS, ServingStatus } from "../platform/health.js";
import { freePort } from "../bin/system.js";
import { Health, HealthCheckResponse_ServingStatus } from "../gen/grpc/health/v1/health_pb.js";
import { MODULES } from "../services/registry.js";
import { GrpcJsClient } from "./helpers/clients.js";
import { startupCheck } from "./helpers/container-env.js";
import { sandboxed, startPod, type Pod } from "./helpers/pod-process.js";
import { freshDatabase } from "./helpers/system.js";
import { containerEnv, dataOf, type Container } from "./helpers/k8s-env.js";
import { describe, findKubectl, render, type K8sObject } from "./helpers/k8s-render.js";
import { schemaProblems, unknownFieldProblems } from "./helpers/k8s-schema.js";

const test = suite("k8s manifests");
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OVERLAYS = ["dev", "prod"] as const;
type Overlay = (typeof OVERLAYS)[number];
const overlayDir = (o: Overlay) => `${ROOT}deploy/k8s/overlays/${o}`;
const WORKLOADS = [...SERVICE_NAMES, "gateway"] as const;
type Workload = (typeof WORKLOADS)[number];

// ---------------------------------------------------------------- shapes we read

interface Probe {
  grpc?: { port: number; service?: string };
  exec?: unknown;
  tcpSocket?: unknown;
  httpGet?: unknown;
  periodSeconds?: number;
}
interface PodContainer extends Container {
  ports?: { name?: string; containerPort: number }[];
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    allowPrivilegeEscalation?: boolean;
    readOnlyRootFilesystem?: boolean;
    runAsNonRoot?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  volumeMounts?: { name: string; mountPath: string }[];
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
}
interface PodSpec {
  containers: PodContainer[];
  initContainers?: PodContainer[];
  enableServiceLinks?: boolean;
  automountServiceAccountToken?: boolean;
  terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; fsGroup?: number; seccompProfile?: { type: string } };
  volumes?: { name: string; emptyDir?: unknown; persistentVolumeClaim?: { claimName: string } }[];
}
interface Workloadish extends K8sObject {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
  };
}
interface ServiceObj extends K8sObject {
  spec: { clusterIP?: string; selector?: Record<string, string>; ports: { name?: string; port: number; targetPort?: string | number }[] };
}
interface Autoscaler extends K8sObject {
  spec: { scaleTargetRef: { apiVersion: string; kind: string; name: string }; minReplicas: number; maxReplicas: number; metrics: { resource?: { name: string } }[] };
}
interface Budget extends K8sObject {
  spec: { maxUnavailable?: number | string; minAvailable?: number | string; selector: { matchLabels: Record<string, string> } };
}

const rendered = {} as Record<Overlay, K8sObject[]>;
const kind = <T extends K8sObject>(objs: K8sObject[], k: string) => objs.filter((o) => o.kind === k) as T[];
const podOwners = (objs: K8sObject[]) => objs.filter((o) => ["Deployment", "StatefulSet", "DaemonSet", "Job"].includes(o.kind)) as Workloadish[];
/** Our own workloads: the Deployments that run the image. */
const ours = (objs: K8sObject[]) => kind<Workloadish>(objs, "Deployment").filter((d) => d.metadata.labels?.["app.kubernetes.io/part-of"] === "fuel-clearinghouse");
const mainContainer = (d: Workloadish) => d.spec.template.spec.containers[0]!;
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);
const workloadOf = (d: Workloadish) => d.metadata.name as Workload;

/** Quantities as numbers: CPU in millicores, memory in bytes. */
function quantity(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (!m) throw new Error(`not a quantity: ${q}`);
  const n = Number(m[1]);
  const unit = m[2] ?? "";
  const scale: Record<string, number> = { "": 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
  return n * scale[unit]!;
}

// ---------------------------------------------------------------- the README's Secrets

/**
 * The Secrets the README tells a platform team to create before installing the prod
 * overlay, with the example values of its commands (`$(openssl rand -base64 32)` becomes
 * 32 random bytes, as it would in a shell).
 */
function documentedSecrets(): Record<string, Record<string, string>> {
  const readme = readFileSync(`${ROOT}README.md`, "utf8");
  const secrets: Record<string, Record<string, string>> = {};
  let current: string | undefined;
  for (const line of readme.split("\n")) {
    const create = /kubectl\b.*\bcreate secret generic ([a-z0-9-]+)/.exec(line);
    if (create) current = create[1]!;
    const literal = /--from-literal=([A-Z0-9_]+)=("[^"]*"|'[^']*'|\S+)/.exec(line);
    if (current && literal) {
      let value = literal[2]!.replace(/^["']|["']$/g, "");
      if (value === "$(openssl rand -base64 32)") value = randomBytes(32).toString("base64");
      (secrets[current] ??= {})[literal[1]!] = value;
    }
    if (current && !line.trimEnd().endsWith("\\")) current = undefined;
  }
  return secrets;
}

// ---------------------------------------------------------------- checks without kubectl

test("the committed base is what deploy/k8s/generate-base.ts writes (run `npm run k8s:base` after changing it)", () => {
  const want = baseFiles();
  const have = readdirSync(BASE_DIR).sort();
  assert.equal(have, Object.keys(want).sort(), "deploy/k8s/base holds exactly the generated files");
  for (const [name, text] of Object.entries(want)) assert.is(readFileSync(`${BASE_DIR}${name}`, "utf8"), text, name);
});

test("health: the liveness entry stays SERVING while the database is away and while draining; the readiness entry does not", () => {
  const entry = "fuel.credit.v1.CreditService";
  const state = new HealthState([entry]);
  state.hold(DATABASE_DOWN, true);
  assert.is(state.status(entry), ServingStatus.NOT_SERVING, "readiness follows the database");
  assert.is(state.status(LIVENESS), ServingStatus.SERVING, "a database outage restarts nothing");
  state.hold(DATABASE_DOWN, false);
  state.hold(DRAINING, true);
  assert.is(state.status(entry), ServingStatus.NOT_SERVING);
  assert.is(state.status(LIVENESS), ServingStatus.SERVING);
});

test("service links would break start-up: Kubernetes' CREDIT_PORT=tcp://… is not a port (why every pod turns them off)", () => {
  assert.throws(() => loadConfig({ CREDIT_PORT: "tcp://10.0.0.7:9103" }), /CREDIT_PORT/);
});

// ---------------------------------------------------------------- rendering

const kubectl = findKubectl();
if (!kubectl.ok) {
  if (process.env.CI === "true") {
    test("kubectl can render the overlays (CI installs it: .ci/run)", () => assert.unreachable(kubectl.why));
  } else {
    process.stdout.write(`\n  k8s manifests: ${kubectl.why}.\n  The rendering and schema checks did not run here; CI runs them.\n`);
  }
} else {
  renderingChecks();
}

function renderingChecks(): void {
  test.before(() => {
    for (const o of OVERLAYS) rendered[o] = render(overlayDir(o));
  });

  test("both overlays render, with every workload and its objects", () => {
    for (const o of OVERLAYS) {
      const names = ours(rendered[o]).map((d) => d.metadata.name).sort();
      assert.equal(names, [...WORKLOADS].sort(), `${o}: one Deployment per service and the gateway`);
    }
  });

  test("every rendered object passes the Kubernetes API schema's validators (types, required fields, formats)", () => {
    assert.equal(OVERLAYS.flatMap((o) => schemaProblems(rendered[o]).map((p) => `${o}: ${p}`)), []);
  });

  test("no rendered object has a field its kind does not define (a misspelling fails)", () => {
    assert.equal(OVERLAYS.flatMap((o) => unknownFieldProblems(rendered[o]).map((p) => `${o}: ${p}`)), []);
  });

  test("the schema checks catch what they are for: a misspelt field, a wrong type, a kind with no schema", () => {
    const deployment = structuredClone(ours(rendered.prod).find((d) => d.metadata.name === "credit")!);
    const c = mainContainer(deployment) as Record<string, unknown>;
    c.resurces = c.resources;
    delete c.resources;
    const misspelt = unknownFieldProblems([deployment]);
    assert.is(misspelt.length, 1, misspelt.join("\n"));
    assert.match(misspelt[0]!, /Deployment\/credit: .*'"?resurces"?' does not exist/);
    const wrongType = structuredClone(kind<Autoscaler>(rendered.prod, "HorizontalPodAutoscaler")[0]!) as unknown as { spec: Record<string, unknown> } & K8sObject;
    wrongType.spec.minReplicas = "three";
    assert.is(schemaProblems([wrongType]).length, 1, "the validator refuses a string where an integer belongs");
    const unknownKind = { apiVersion: "apps/v1", kind: "Deploymnet", metadata: { name: "x" } };
    assert.match(schemaProblems([unknownKind])[0] ?? "", /no schema/);
  });

  test("every namespaced object is in one namespace, so every reference between them resolves", () => {
    for (const o of OVERLAYS) {
      for (const obj of rendered[o]) {
        if (obj.kind === "Namespace") continue;
        assert.is(obj.metadata.namespace, "fuel", `${o}: ${describe(obj)}`);
      }
      const ns = kind(rendered[o], "Namespace")[0];
      assert.is(ns?.metadata.labels?.["pod-security.kubernetes.io/enforce"], "restricted", `${o}: the namespace enforces the restricted Pod Security Standard`);
    }
  });

  test("probes: native gRPC startup, liveness and readiness on the container's own port; liveness on the entry nothing holds down, readiness on the service's own", () => {
    for (const o of OVERLAYS) {
      for (const d of ours(rendered[o])) {
        const w = workloadOf(d);
        const c = mainContainer(d);
        const port = DEFAULT_PORTS[w];
        assert.ok(c.ports?.some((p) => p.containerPort === port), `${o}/${w} listens on ${port}`);
        for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"] as const) {
          assert.is(c[probe]?.grpc?.port, port, `${o}/${w} ${probe} is a gRPC probe on ${port}`);
        }
        assert.is(c.startupProbe!.grpc!.service, LIVENESS, `${o}/${w} startup`);
        assert.is(c.livenessProbe!.grpc!.service, LIVENESS, `${o}/${w} liveness`);
        const readiness = w === "gateway" ? "" : MODULES[w as ServiceName].services[0]!.typeName;
        assert.is(c.readinessProbe!.grpc!.service ?? "", readiness, `${o}/${w} readiness`);
      }
    }
  });

  test("stopping: the preStop pause and the drain fit inside the grace period", () => {
    for (const o of OVERLAYS) {
      const settings = dataOf(kind(rendered[o], "ConfigMap").find((c) => c.metadata.name.startsWith("fuel-settings"))!);
      const drainSeconds = Number(settings.DRAIN_TIMEOUT_MS) / 1000;
      for (const d of ours(rendered[o])) {
        const pause = mainContainer(d).lifecycle?.preStop?.exec?.command;
        assert.equal(pause, ["sleep", String(PRE_STOP_SLEEP_SECONDS)], `${o}/${d.metadata.name} preStop`);
        const grace = d.spec.template.spec.terminationGracePeriodSeconds ?? 30;
        assert.ok(grace > PRE_STOP_SLEEP_SECONDS + drainSeconds, `${o}/${d.metadata.name}: grace ${grace} s > ${PRE_STOP_SLEEP_SECONDS} + ${drainSeconds}`);
      }
    }
  });

  test("every container of every pod has CPU and memory requests and limits, requests within limits", () => {
    for (const o of OVERLAYS) {
      for (const w of podOwners(rendered[o])) {
        for (const c of [...w.spec.template.spec.containers, ...(w.spec.template.spec.initContainers ?? [])]) {
          const where = `${o}: ${describe(w)}/${c.name}`;
          for (const r of ["cpu", "memory"]) {
            const req = c.resources?.requests?.[r];
            const lim = c.resources?.limits?.[r];
            assert.ok(req && lim, `${where} ${r} request and limit`);
            assert.ok(quantity(req!) <= quantity(lim!), `${where} ${r} ${req} ≤ ${lim}`);
          }
        }
      }
    }
  });

  test("every pod runs as non-root with a read-only root, no privilege escalation, no capabilities, seccomp RuntimeDefault, no service links", () => {
    for (const o of OVERLAYS) {
      for (const w of podOwners(rendered[o])) {
        const pod = w.spec.template.spec;
        const where = `${o}: ${describe(w)}`;
        assert.is(pod.securityContext?.runAsNonRoot, true, `${where} runAsNonRoot`);
        assert.ok((pod.securityContext?.runAsUser ?? 0) > 0, `${where} runAsUser`);
        assert.is(pod.securityContext?.seccompProfile?.type, "RuntimeDefault", `${where} seccomp`);
        assert.is(pod.enableServiceLinks, false, `${where} enableServiceLinks`);
        assert.is(pod.automountServiceAccountToken, false, `${where} needs no API token`);
        for (const c of pod.containers) {
          assert.is(c.securityContext?.allowPrivilegeEscalation, false, `${where}/${c.name}`);
          assert.is(c.securityContext?.readOnlyRootFilesystem, true, `${where}/${c.name}`);
          assert.equal(c.securityContext?.capabilities?.drop, ["ALL"], `${where}/${c.name}`);
          assert.not.ok(c.securityContext?.capabilities?.add?.length, `${where}/${c.name} adds none`);
        }
      }
    }
  });

  test("our pods run as the image's user (node, 1000) and write only to volumes: /tmp (tsx's cache) and KYC documents", () => {
    assert.match(readFileSync(`${ROOT}Dockerfile`, "utf8"), /^USER node$/m);
    for (const o of OVERLAYS) {
      for (const d of ours(rendered[o])) {
        const pod = d.spec.template.spec;
        assert.is(pod.securityContext?.runAsUser, 1000, `${o}/${d.metadata.name}`);
        assert.is(pod.securityContext?.fsGroup, 1000, `${o}/${d.metadata.name}: volumes writable by node`);
        const tmp = mainContainer(d).volumeMounts?.find((m) => m.mountPath === "/tmp");
        assert.ok(tmp && pod.volumes?.find((v) => v.name === tmp.name)?.emptyDir, `${o}/${d.metadata.name}: /tmp is an emptyDir`);
      }
    }
  });

  test("KYC documents: dev mounts one ReadWriteMany claim at STORAGE_DIR; prod keeps them in S3 with keys from a Secret", () => {
    const kycOf = (o: Overlay) => ours(rendered[o]).find((d) => d.metadata.name === "kyc")!;
    const devKyc = kycOf("dev");
    const env = containerEnv(mainContainer(devKyc), rendered.dev).env;
    const mount = mainContainer(devKyc).volumeMounts?.find((m) => m.mountPath === env.STORAGE_DIR);
    const volume = devKyc.spec.template.spec.volumes?.find((v) => v.name === mount?.name);
    assert.is(volume?.persistentVolumeClaim?.claimName, DOCUMENTS_CLAIM);
    const claim = kind<K8sObject & { spec: { accessModes: string[] } }>(rendered.dev, "PersistentVolumeClaim").find((p) => p.metadata.name === DOCUMENTS_CLAIM);
    assert.equal(claim?.spec.accessModes, ["ReadWriteMany"]);

    const prodKyc = kycOf("prod");
    const prodEnv = containerEnv(mainContainer(prodKyc), rendered.prod, documentedSecrets()).env;
    assert.is(prodEnv.KYC_STORAGE_BACKEND, "s3");
    const keyRefs = (mainContainer(prodKyc).env ?? []).filter((v) => v.name.startsWith("S3_")).map((v) => v.valueFrom?.secretKeyRef?.name);
    assert.equal(keyRefs, ["fuel-kyc-s3", "fuel-kyc-s3"], "S3 keys come from a Secret");
    assert.not.ok(prodKyc.spec.template.spec.volumes?.some((v) => v.persistentVolumeClaim), "no shared volume in prod");
    assert.is(kind(rendered.prod, "PersistentVolumeClaim").length, 0);
  });

  test("no secret in the manifests: secret-named variables come from Secrets, ConfigMaps and env values hold no credentials, prod holds no Secret, dev's hold only public development values", () => {
    const secretName = /(SECRET|PASSWORD|TOKEN|_KEY|KEY_ID|DATABASE(_DIRECT)?_URL|REDIS_URL|REDIS_CLUSTER_NODES|SMS_API_URL|SMTP_URL|PUSH_API_URL)$/;
    const credentialInUrl = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s]*:[^/@\s]+@/i;
    for (const o of OVERLAYS) {
      for (const cm of kind(rendered[o], "ConfigMap")) {
        for (const [k, v] of Object.entries(dataOf(cm))) {
          assert.not.ok(secretName.test(k), `${o}: ConfigMap ${cm.metadata.name} holds ${k}`);
          assert.not.ok(credentialInUrl.test(v), `${o}: ConfigMap ${cm.metadata.name} ${k} carries credentials`);
        }
      }
      for (const w of podOwners(rendered[o])) {
        for (const c of w.spec.template.spec.containers) {
          for (const v of c.env ?? []) {
            if (v.value === undefined) continue;
            assert.not.ok(secretName.test(v.name), `${o}: ${describe(w)} sets ${v.name} literally`);
            assert.not.ok(credentialInUrl.test(v.value), `${o}: ${describe(w)} ${v.name} carries credentials`);
          }
        }
      }
    }
    assert.is(kind(rendered.prod, "Secret").length, 0, "prod: every Secret is created by the platform team, none shipped");
    for (const s of kind(rendered.dev, "Secret")) {
      for (const [k, v] of Object.entries(dataOf(s))) {
        const decoded = Buffer.from(v, "base64").toString("utf8");
        const urlWithoutPassword = /^[a-z][a-z0-9+.-]*:\/\//i.test(v) && !credentialInUrl.test(v);
        const publicValue = /dev-only/.test(v) || /^dev-only .* never deploy$/.test(decoded) || /\.invalid([:/]|$)/.test(v) || urlWithoutPassword;
        assert.ok(publicValue, `dev: Secret ${s.metadata.name} ${k} is not a public development value`);
      }
    }
  });

  test("dev's keys are .env.example's public development keys; its database URL carries the password its PostgreSQL is given", () => {
    const example = Object.fromEntries(readFileSync(`${ROOT}.env.example`, "utf8").split("\n").map((l) => /^([A-Z0-9_]+)=(.*)$/.exec(l)).filter((m) => m !== null).map((m) => [m![1]!, m![2]!]));
    const secret = (prefix: string) => dataOf(kind(rendered.dev, "Secret").find((s) => s.metadata.name.startsWith(prefix))!);
    for (const [k, v] of Object.entries(secret("fuel-keys"))) assert.is(v, example[k], k);
    const db = new URL(secret("fuel-datastores").DATABASE_URL!);
    assert.is(decodeURIComponent(db.password), secret("fuel-dev-postgres").POSTGRES_PASSWORD);
    const postgres = kind<Workloadish>(rendered.dev, "StatefulSet").find((s) => s.metadata.name === "postgres")!;
    const pgEnv = containerEnv(mainContainer(postgres), rendered.dev).env;
    assert.equal([pgEnv.POSTGRES_USER, pgEnv.POSTGRES_DB, pgEnv.POSTGRES_PASSWORD], [db.username, db.pathname.slice(1), decodeURIComponent(db.password)]);
    const redis = new URL(secret("fuel-datastores").REDIS_URL!);
    for (const host of [db.hostname, redis.hostname]) assert.ok(kind(rendered.dev, "Service").some((s) => s.metadata.name === host), `dev: a Service named ${host}`);
  });

  test("every Secret prod references is in the README's install commands, with every key it needs", () => {
    const documented = documentedSecrets();
    for (const d of podOwners(rendered.prod)) {
      const { missing } = containerEnv(mainContainer(d), rendered.prod, documented);
      assert.equal(missing, [], `prod: ${describe(d)} refers to what the README does not tell anyone to create`);
    }
  });

  test("every container starts: its environment passes the production configuration rules and its service's own settings", () => {
    const external = documentedSecrets();
    for (const o of OVERLAYS) {
      for (const d of ours(rendered[o])) {
        const { env, missing } = containerEnv(mainContainer(d), rendered[o], external);
        assert.equal(missing, [], `${o}/${d.metadata.name}: every reference resolves`);
        const { cfg, problems } = startupCheck(env);
        assert.equal(problems, [], `${o}/${d.metadata.name}`);
        assert.ok(cfg!.production, `${o}/${d.metadata.name} runs with NODE_ENV=production`);
        const w = workloadOf(d);
        if (w === "gateway") assert.ok(cfg!.gateway && cfg!.services.length === 0, `${o}/gateway`);
        else assert.equal([cfg!.gateway, cfg!.services], [false, [w]], `${o}/${w}`);
        assert.is(cfg!.host, "0.0.0.0", `${o}/${w} listens on the pod's address`);
      }
    }
  });

  test("the settings' service URLs name headless Services that exist, on the port the service listens on, selecting its pods", () => {
    for (const o of OVERLAYS) {
      const services = kind<ServiceObj>(rendered[o], "Service");
      const deployments = ours(rendered[o]);
      const env = containerEnv(mainContainer(deployments[0]!), rendered[o], documentedSecrets()).env;
      for (const s of SERVICE_NAMES) {
        const url = new URL(env[`${s.toUpperCase()}_URL`]!);
        assert.is(url.hostname, headlessName(s), `${o}: ${s}'s URL names its headless Service`);
        const svc = services.find((x) => x.metadata.name === url.hostname);
        assert.ok(svc, `${o}: Service ${url.hostname} exists`);
        assert.is(svc!.spec.clusterIP, "None", `${o}: ${url.hostname} is headless (DNS answers every ready replica)`);
        const port = svc!.spec.ports.find((p) => p.port === Number(url.port));
        assert.ok(port, `${o}: ${url.hostname} serves port ${url.port}`);
        const selected = deployments.filter((d) => matches(svc!.spec.selector ?? {}, d.spec.template.metadata.labels));
        assert.equal(selected.map((d) => d.metadata.name), [s], `${o}: ${url.hostname} selects the ${s} pods and nothing else`);
        const target = mainContainer(selected[0]!).ports?.find((p) => p.name === port!.targetPort || p.containerPort === port!.targetPort);
        assert.is(target?.containerPort, DEFAULT_PORTS[s], `${o}: ${url.hostname} reaches the container's port`);
      }
    }
  });

  test("a PodDisruptionBudget and an autoscaler (autoscaling/v2, CPU) for every Deployment; the autoscaler alone sets the replica count", () => {
    for (const o of OVERLAYS) {
      const budgets = kind<Budget>(rendered[o], "PodDisruptionBudget");
      const scalers = kind<Autoscaler>(rendered[o], "HorizontalPodAutoscaler");
      for (const d of ours(rendered[o])) {
        const where = `${o}/${d.metadata.name}`;
        assert.is(d.spec.replicas, undefined, `${where}: no replicas field for an apply to reset`);
        const pdb = budgets.filter((b) => matches(b.spec.selector.matchLabels, d.spec.template.metadata.labels));
        assert.is(pdb.length, 1, `${where}: one PodDisruptionBudget`);
        assert.is(pdb[0]!.spec.maxUnavailable, 1, `${where}: one pod at a time may go`);
        const hpa = scalers.filter((h) => h.spec.scaleTargetRef.kind === "Deployment" && h.spec.scaleTargetRef.name === d.metadata.name);
        assert.is(hpa.length, 1, `${where}: one autoscaler`);
        assert.is(hpa[0]!.apiVersion, "autoscaling/v2");
        assert.ok(hpa[0]!.spec.metrics.some((m) => m.resource?.name === "cpu"), `${where}: scales on CPU`);
        assert.ok(hpa[0]!.spec.minReplicas >= 1 && hpa[0]!.spec.minReplicas <= hpa[0]!.spec.maxReplicas, `${where}: bounds`);
      }
    }
    const bounds = (o: Overlay, name: string) => {
      const h = kind<Autoscaler>(rendered[o], "HorizontalPodAutoscaler").find((x) => x.metadata.name === name)!;
      return [h.spec.minReplicas, h.spec.maxReplicas];
    };
    for (const w of WORKLOADS) assert.equal(bounds("dev", w), [1, 1], `dev: one ${w}`);
    for (const w of ["credit", "transaction", "gateway"]) assert.ok(bounds("prod", w)[0]! >= 3, `prod: ${w} keeps 3 or more`);
    for (const w of WORKLOADS) assert.ok(bounds("prod", w)[0]! >= 2, `prod: ${w} survives losing a pod`);
  });

  test("metrics: a port named metrics on METRICS_PORT, announced to Prometheus on every pod of ours", () => {
    for (const o of OVERLAYS) {
      for (const d of ours(rendered[o])) {
        const env = containerEnv(mainContainer(d), rendered[o], documentedSecrets()).env;
        assert.is(Number(env.METRICS_PORT), METRICS_PORT, `${o}/${d.metadata.name}`);
        assert.ok(mainContainer(d).ports?.some((p) => p.name === "metrics" && p.containerPort === METRICS_PORT));
        const a = d.spec.template.metadata.annotations ?? {};
        assert.equal([a["prometheus.io/scrape"], a["prometheus.io/port"], a["prometheus.io/path"]], ["true", String(METRICS_PORT), "/metrics"]);
      }
    }
  });

  test("the pods start: each dev Deployment's environment, addresses moved to this machine, starts the image's command under a read-only root as uid 1000, and its rendered probes answer SERVING", async () => {
    const db = await freshDatabase();
    if (!db || !process.env.REDIS_URL) {
      // The production rules refuse to start without a real PostgreSQL and Redis.
      assert.ok(process.env.CI !== "true", "CI sets DATABASE_URL and REDIS_URL");
      process.stdout.write("\n  k8s manifests: DATABASE_URL / REDIS_URL unset; the pods' start-up ran only as configuration checks here.\n");
      return;
    }
    if (!sandboxed()) {
      assert.ok(process.env.CI !== "true", "CI runs the pods under bubblewrap (.ci/run installs it)");
      process.stdout.write("\n  k8s manifests: bubblewrap (bwrap) missing or not root; the pods start as plain processes, not under a read-only root.\n");
    }
    const scratch = mkdtempSync(`${tmpdir()}/fuel-k8s-`);
    // The documents volume: writable by the pod's user, as fsGroup makes it.
    mkdirSync(`${scratch}/documents`);
    chmodSync(`${scratch}/documents`, 0o777);
    const ports = {} as Record<Workload, number>;
    for (const w of WORKLOADS) ports[w] = await freePort();
    const local: Record<string, string> = { DATABASE_URL: db.url, REDIS_URL: process.env.REDIS_URL, HOST: "127.0.0.1", PORT: String(ports.gateway), METRICS_PORT: "0", STORAGE_DIR: `${scratch}/documents` };
    if (!sandboxed()) local.TMPDIR = scratch;
    for (const s of SERVICE_NAMES) {
      local[`${s.toUpperCase()}_PORT`] = String(ports[s]);
      local[`${s.toUpperCase()}_URL`] = `http://127.0.0.1:${ports[s]}`;
    }
    const started: Pod[] = [];
    const clients: GrpcJsClient<typeof Health>[] = [];
    try {
      for (const d of ours(rendered.dev)) {
        const w = workloadOf(d);
        const { env } = containerEnv(mainContainer(d), rendered.dev);
        started.push(await startPod({ ...env, ...local }, [`${scratch}/documents`]));
        const health = new GrpcJsClient(Health, `127.0.0.1:${ports[w]}`);
        clients.push(health);
        for (const probe of ["startupProbe", "livenessProbe", "readinessProbe"] as const) {
          const service = mainContainer(d)[probe]!.grpc!.service ?? "";
          const res = await health.unary(Health.method.check, { service });
          assert.is(res.message.status, HealthCheckResponse_ServingStatus.SERVING, `${w} ${probe} (${JSON.stringify(service)})`);
        }
      }
    } finally {
      for (const c of clients) c.close();
      await Promise.all(started.map((p) => p.stop()));
      await db.drop();
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  test("images: prod names a registry and a fixed tag; every workload of ours runs the one image", () => {
    for (const o of OVERLAYS) {
      const images = new Set(ours(rendered[o]).map((d) => mainContainer(d).image));
      assert.is(images.size, 1, `${o}: one image`);
    }
    const image = mainContainer(ours(rendered.prod)[0]!).image!;
    assert.match(image, /^[a-z0-9.-]+\.[a-z]+(:\d+)?\/.+:[\w.-]+$/, "registry host and tag");
    assert.not.match(image, /:latest$/);
  });
}

test.run();
