// ListMachineCredentials: the machine credentials within the caller's reach, newest
// first, without secrets; a merchant's tooling and a bank's integration team see what
// they have issued and what is still active.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { ListMachineCredentialsResponseSchema, MachineKind, type ListMachineCredentialsRequest } from "../../gen/fuel/auth/v1/auth_pb.js";
import { principalOf } from "../../platform/context.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { machineKindName, machineMsg } from "./convert.js";
import { decodeMachineCursor, encodeMachineCursor, machineListFilter, timestampTextOfMicros } from "./machine-list-rule.js";
import * as store from "./store.js";

export const listMachineCredentials = (deps: ServiceDeps) => async (req: ListMachineCredentialsRequest, ctx: HandlerContext) => {
  const caller = principalOf(ctx);
  // Every field is checked before the caller's reach is, so bad input is named whoever asks.
  const stationId = v.optionalUuid("station_id", req.stationId);
  const kind = req.kind === MachineKind.UNSPECIFIED ? null : machineKindName(v.enumValue("kind", req.kind, MachineKind) as MachineKind);
  const limit = v.pageSize(req.pageSize);
  const after = decodeMachineCursor(req.pageToken);
  const filter = machineListFilter(caller, { kind, stationId, includeRevoked: req.includeRevoked });
  if (!filter) return create(ListMachineCredentialsResponseSchema, {});
  const rows = await store.listMachines(deps.pool, {
    ...filter,
    after: after && { createTime: timestampTextOfMicros(after.createTimeUs), clientId: after.clientId },
    limit: limit + 1,
  });
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return create(ListMachineCredentialsResponseSchema, {
    credentials: page.map(machineMsg),
    nextPageToken: rows.length > limit && last ? encodeMachineCursor({ createTimeUs: BigInt(last.create_time_us), clientId: last.client_id }) : "",
  });
};
