// GetHold (internal, TransactionService's recovery sweeper): a hold by id or by transaction.
import { create } from "@bufbuild/protobuf";
import { GetHoldResponseSchema, type GetHoldRequest } from "../../gen/fuel/credit/v1/credit_pb.js";
import { invalidArgument } from "../../platform/errors.js";
import type { ServiceDeps } from "../../platform/service.js";
import * as v from "../../platform/validate.js";
import { holdToProto } from "./convert.js";
import { holdNotFound } from "./resolve.js";
import * as store from "./store.js";

export function getHold(deps: ServiceDeps) {
  return async (req: GetHoldRequest) => {
    let h: store.HoldRow | undefined;
    if (req.key.case === "holdId") h = await store.getHold(deps.pool, v.uuid("hold_id", req.key.value));
    else if (req.key.case === "transactionId") h = await store.holdOfTransaction(deps.pool, v.uuid("transaction_id", req.key.value));
    else throw invalidArgument("key", "hold_id or transaction_id is required");
    if (!h) throw holdNotFound();
    return create(GetHoldResponseSchema, { hold: holdToProto(h) });
  };
}
