// Checks rendered objects against the Kubernetes API schema, offline, with the
// `kubernetes-models` package (generated from Kubernetes' OpenAPI definitions), in two
// ways because neither alone catches every mistake:
// - its validators (JSON Schema, per kind): types, required fields, formats. They allow
//   fields the schema does not name, as the API's OpenAPI does, so a misspelt optional
//   field (`resurces:`) passes them;
// - its TypeScript interfaces: each object becomes an object literal of its kind's type in
//   a program the TypeScript compiler checks in memory, where a field the type does not
//   name is an error ("Object literal may only specify known properties").
// A kind the package has no model for is an error too: nothing goes unchecked.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, type K8sObject } from "./k8s-render.js";

const require = createRequire(import.meta.url);
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** Where the in-memory program's file pretends to be, so `kubernetes-models` resolves from node_modules. */
const CHECK_FILE = `${ROOT}k8s-manifests.check.ts`;

/** kubernetes-models' module of a kind: `apps/v1` + `Deployment` → `kubernetes-models/apps/v1/Deployment`. */
const modelPath = (o: K8sObject) => `kubernetes-models/${o.apiVersion}/${o.kind}`;

type ModelClass = new (data: unknown) => { validate(): void };

/**
 * kubectl prints a long Secret value as base64 in lines of 76; the API server's decoder
 * (Go's encoding/base64) skips the line breaks, the validator's "byte" format does not.
 */
function asTheApiReadsIt(o: K8sObject): K8sObject {
  const data = (o as { data?: Record<string, string> }).data;
  if (o.kind !== "Secret" || !data) return o;
  return { ...o, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.replace(/[\r\n]/g, "")])) };
}

/** The runtime validators: one message per object they refuse. */
export function schemaProblems(objects: K8sObject[]): string[] {
  const problems: string[] = [];
  for (const o of objects.map(asTheApiReadsIt)) {
    let Model: ModelClass | undefined;
    try {
      Model = (require(modelPath(o)) as Record<string, ModelClass>)[o.kind];
    } catch {
      Model = undefined;
    }
    if (!Model) {
      problems.push(`${describe(o)}: no schema for ${o.apiVersion} ${o.kind}`);
      continue;
    }
    try {
      new Model(o).validate();
    } catch (err) {
      problems.push(`${describe(o)}: ${(err as Error).message}`);
    }
  }
  return problems;
}

/** The TypeScript check: one message per field an object's kind does not have (or of the wrong type). */
export function unknownFieldProblems(objects: K8sObject[]): string[] {
  const lines: string[] = [];
  const owners: { from: number; object: K8sObject }[] = [];
  objects.forEach((o, i) => lines.push(`import type { I${o.kind} as T${i} } from "${modelPath(o)}";`));
  objects.forEach((o, i) => {
    owners.push({ from: lines.length, object: o });
    lines.push(...`export const o${i}: T${i} = ${JSON.stringify(o, null, 1)};`.split("\n"));
  });
  const source = lines.join("\n");

  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (name, language, ...rest) => (name === CHECK_FILE ? ts.createSourceFile(name, source, language) : getSourceFile(name, language, ...rest));
  host.fileExists = (name) => name === CHECK_FILE || fileExists(name);
  host.readFile = (name) => (name === CHECK_FILE ? source : readFile(name));
  const program = ts.createProgram([CHECK_FILE], options, host);

  return ts.getPreEmitDiagnostics(program)
    .filter((d) => d.file?.fileName === CHECK_FILE)
    .map((d) => {
      const line = d.file!.getLineAndCharacterOfPosition(d.start ?? 0).line;
      const owner = [...owners].reverse().find((x) => x.from <= line);
      const where = owner ? describe(owner.object) : "imports";
      return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")} (line ${line + 1}: ${source.split("\n")[line]!.trim()})`;
    });
}
