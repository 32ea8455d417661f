// UploadDocument, ListDocuments, GetDocumentContent (`/kyc/documents/*`).
// The type is recognised from the bytes; the client's file name is a label only; the
// bytes go to the storage adapter under a server-made key, with their SHA-256 recorded
// and checked again on every read.
import { createHash, randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, type HandlerContext } from "@connectrpc/connect";
import {
  DocumentStatus,
  DocumentType,
  GetDocumentContentResponseSchema,
  ListDocumentsResponseSchema,
  UploadDocumentResponseSchema,
  type GetDocumentContentRequest,
  type ListDocumentsRequest,
  type UploadDocumentRequest,
} from "../../gen/fuel/kyc/v1/kyc_pb.js";
import { invalidArgument, notFound, rpcError } from "../../platform/errors.js";
import { log } from "../../platform/logger.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { actorId, callerOf, isAgencyAdminOf, mayUploadForDriver } from "./access.js";
import { MAX_DOCUMENT_BYTES, sniffContentType } from "./content-sniff.js";
import { docStatusName, documentToProto } from "./convert.js";
import { requiredFor } from "./kyc-status-rule.js";
import { assertOwnerVisible } from "./status.js";
import { StorageNotFound, storageKey, type DocumentStorage } from "./storage/index.js";
import * as store from "./store.js";
import { owner as parseOwner } from "./validation.js";

// Control characters (C0, DEL, C1) and Unicode line/paragraph separators.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export function fileNameLabel(field: string, value: string): string {
  if ([...value].length > 255) throw invalidArgument(field, "must be at most 255 characters");
  if (CONTROL.test(value)) throw invalidArgument(field, "must not contain control characters");
  return value;
}

export const sha256Hex = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

export const uploadDocument = (deps: ServiceDeps, storage: DocumentStorage) => async (req: UploadDocumentRequest, ctx: HandlerContext) => {
  const owner = parseOwner("owner", req.owner);
  const type = v.enumValue("document_type", req.documentType, DocumentType);
  if (!requiredFor(owner.kind).includes(type)) {
    throw invalidArgument("document_type", `is not a ${owner.kind} document type`);
  }
  const content = req.content;
  if (content.byteLength === 0) throw invalidArgument("content", "is required");
  if (content.byteLength > MAX_DOCUMENT_BYTES) {
    throw invalidArgument("content", `must be at most ${MAX_DOCUMENT_BYTES} bytes`, "CONTENT_TOO_LARGE");
  }
  const contentType = await sniffContentType(content);
  if (!contentType) throw invalidArgument("content", "must be a JPEG, PNG or PDF file", "UNSUPPORTED_CONTENT");
  const fileName = fileNameLabel("file_name", req.fileName);

  const c = callerOf(ctx);
  if (owner.kind === "driver") {
    const d = await store.getDriver(deps.pool, owner.id);
    if (!d || !mayUploadForDriver(c, d)) throw notFound("driver");
  } else if (!isAgencyAdminOf(c, owner.id) || !(await store.agencyExists(deps.pool, owner.id))) {
    throw notFound("agency");
  }

  const documentId = randomUUID();
  const key = storageKey(owner.kind, owner.id, documentId);
  await storage.put(key, content, contentType);
  const row = await store.insertDocument(deps.pool, {
    document_id: documentId,
    driver_id: owner.kind === "driver" ? owner.id : null,
    agency_id: owner.kind === "agency" ? owner.id : null,
    document_type: type,
    content_type: contentType,
    size_bytes: BigInt(content.byteLength),
    sha256_hex: sha256Hex(content),
    file_name: fileName,
    storage_backend: storage.backend,
    storage_key: key,
    uploaded_by: actorId(c),
    upload_time: deps.now(),
  });
  log.info({ document_id: documentId, document_type: DocumentType[type], size: content.byteLength }, "kyc document uploaded");
  return create(UploadDocumentResponseSchema, { document: documentToProto(row) });
};

export const listDocuments = (deps: ServiceDeps) => async (req: ListDocumentsRequest, ctx: HandlerContext) => {
  const owner = parseOwner("owner", req.owner);
  const limit = v.pageSize(req.pageSize);
  const token = v.decodePageToken(req.pageToken, ["seq"]);
  if (token && !/^\d{1,19}$/.test(token.seq)) throw invalidArgument("page_token", "is not a token from a previous response");
  const status = req.status === DocumentStatus.UNSPECIFIED ? null : docStatusName(req.status);
  if (req.status !== DocumentStatus.UNSPECIFIED && !status) throw invalidArgument("status", "is not an accepted value");
  await assertOwnerVisible(deps.pool, callerOf(ctx), owner);
  const rows = await store.listDocuments(deps.pool, owner, { status, beforeSeq: token ? BigInt(token.seq) : null, limit: limit + 1 });
  const page = rows.slice(0, limit);
  return create(ListDocumentsResponseSchema, {
    documents: page.map(documentToProto),
    nextPageToken: rows.length > limit ? v.encodePageToken({ seq: String(page[page.length - 1]!.seq) }) : "",
  });
};

/** A document the caller may see (through its owner), or NOT_FOUND. */
export async function visibleDocument(deps: ServiceDeps, ctx: HandlerContext, documentId: string): Promise<store.DocumentRow> {
  const row = await store.getDocument(deps.pool, documentId);
  if (!row) throw notFound("document");
  const owner: store.OwnerRef = row.driver_id ? { kind: "driver", id: row.driver_id } : { kind: "agency", id: row.agency_id! };
  try {
    await assertOwnerVisible(deps.pool, callerOf(ctx), owner);
  } catch {
    throw notFound("document");
  }
  return row;
}

export const getDocumentContent = (deps: ServiceDeps, storage: DocumentStorage) => async (req: GetDocumentContentRequest, ctx: HandlerContext) => {
  const documentId = v.uuid("document_id", req.documentId);
  const row = await visibleDocument(deps, ctx, documentId);
  let content: Uint8Array;
  try {
    content = await storage.get(row.storage_key);
  } catch (err) {
    if (err instanceof StorageNotFound) {
      log.error({ document_id: documentId }, "kyc document content missing from storage");
      throw rpcError(Code.DataLoss, "CONTENT_MISSING", "the stored document content is missing");
    }
    throw err;
  }
  if (BigInt(content.byteLength) !== row.size_bytes || sha256Hex(content) !== row.sha256_hex) {
    log.error({ document_id: documentId }, "kyc document content fails its SHA-256 check");
    throw rpcError(Code.DataLoss, "CONTENT_CHECKSUM_MISMATCH", "the stored document content no longer matches its checksum");
  }
  return create(GetDocumentContentResponseSchema, { document: documentToProto(row), content });
};
