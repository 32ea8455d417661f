// grpc.reflection.v1.ServerReflection as a Connect service, answered from the
// protobuf-es descriptors this server was built with, so grpcurl, buf curl and Postman
// discover every service without a copy of the protos.
import { create, toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import {
  ServerReflection,
  ServerReflectionResponseSchema,
  type ServerReflectionRequest,
} from "../gen/grpc/reflection/v1/reflection_pb.js";

/** Requests answered per stream before it is closed (a limit on everything). */
const MAX_REQUESTS_PER_STREAM = 10_000;

export const reflectionRoutes = (services: DescService[]) => {
  const files = new Map<string, DescFile>();
  const symbols = new Map<string, DescFile>();
  const addFile = (f: DescFile) => {
    if (files.has(f.proto.name)) return;
    files.set(f.proto.name, f);
    for (const m of f.messages) indexMessage(m, f);
    for (const e of f.enums) symbols.set(e.typeName, f);
    for (const s of f.services) {
      symbols.set(s.typeName, f);
      for (const m of s.methods) symbols.set(`${s.typeName}.${m.name}`, f);
    }
    for (const x of f.extensions) symbols.set(x.typeName, f);
    for (const d of f.dependencies) addFile(d);
  };
  const indexMessage = (m: DescFile["messages"][number], f: DescFile) => {
    symbols.set(m.typeName, f);
    for (const n of m.nestedMessages) indexMessage(n, f);
    for (const e of m.nestedEnums) symbols.set(e.typeName, f);
  };
  for (const s of services) addFile(s.file);

  // A file and everything it imports, each once, as serialized FileDescriptorProtos.
  const withDeps = (f: DescFile): Uint8Array[] => {
    const out: Uint8Array[] = [];
    const seen = new Set<string>();
    const walk = (x: DescFile) => {
      if (seen.has(x.proto.name)) return;
      seen.add(x.proto.name);
      out.push(toBinary(FileDescriptorProtoSchema, x.proto));
      for (const d of x.dependencies) walk(d);
    };
    walk(f);
    return out;
  };

  const answer = (req: ServerReflectionRequest) => {
    const base = { validHost: req.host, originalRequest: req };
    const notFound = (what: string) =>
      create(ServerReflectionResponseSchema, { ...base, messageResponse: { case: "errorResponse", value: { errorCode: 5, errorMessage: `${what} not found` } } });
    const filesOf = (f: DescFile | undefined, what: string) =>
      f
        ? create(ServerReflectionResponseSchema, { ...base, messageResponse: { case: "fileDescriptorResponse", value: { fileDescriptorProto: withDeps(f) } } })
        : notFound(what);
    const r = req.messageRequest;
    switch (r.case) {
      case "listServices":
        return create(ServerReflectionResponseSchema, {
          ...base,
          messageResponse: { case: "listServicesResponse", value: { service: services.map((s) => ({ name: s.typeName })) } },
        });
      case "fileByFilename":
        return filesOf(files.get(r.value), r.value);
      case "fileContainingSymbol":
        return filesOf(symbols.get(r.value.replace(/^\./, "")), r.value);
      case "fileContainingExtension": {
        const ext = [...files.values()].flatMap((f) => f.extensions).find((x) => x.extendee.typeName === r.value.containingType && x.number === r.value.extensionNumber);
        return filesOf(ext?.file, `${r.value.containingType}(${r.value.extensionNumber})`);
      }
      case "allExtensionNumbersOfType": {
        const numbers = [...files.values()].flatMap((f) => f.extensions).filter((x) => x.extendee.typeName === r.value).map((x) => x.number);
        return create(ServerReflectionResponseSchema, {
          ...base,
          messageResponse: { case: "allExtensionNumbersResponse", value: { baseTypeName: r.value, extensionNumber: numbers } },
        });
      }
      default:
        return create(ServerReflectionResponseSchema, { ...base, messageResponse: { case: "errorResponse", value: { errorCode: 3, errorMessage: "unsupported request" } } });
    }
  };

  return (router: ConnectRouter) =>
    router.service(ServerReflection, {
      async *serverReflectionInfo(requests) {
        let n = 0;
        for await (const req of requests) {
          if (++n > MAX_REQUESTS_PER_STREAM) return;
          yield answer(req);
        }
      },
    });
};
