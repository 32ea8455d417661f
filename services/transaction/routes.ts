// TransactionService: one handler per RPC (GenerateQrCode, Authorize, Settle, Void,
// GetTransaction, ListTransactions, GetOutboxStatus). The QR signing key is derived from the mesh secret.
import type { ConnectRouter } from "@connectrpc/connect";
import { TransactionService } from "../../gen/fuel/transaction/v1/transaction_pb.js";
import { outboxStatus } from "../../platform/outbox-status.js";
import type { StatusSource } from "../../platform/outbox-status.js";
import type { ServiceDeps } from "../../platform/service.js";
import { authorize } from "./authorize.js";
import { generateQrCode } from "./generate-qr.js";
import { deriveQrKey } from "./qr-payload.js";
import { getTransaction, listTransactions } from "./read.js";
import type { TransactionSettings } from "./settings.js";
import { settle } from "./settle.js";
import { voidTransaction } from "./void.js";

export function routes(router: ConnectRouter, deps: ServiceDeps, s: TransactionSettings, outbox: StatusSource): void {
  const qrKey = deriveQrKey(deps.cfg.meshSecret);
  router.service(TransactionService, {
    generateQrCode: generateQrCode(deps, s, qrKey),
    authorize: authorize(deps, s, qrKey),
    settle: settle(deps, s),
    void: voidTransaction(deps, s),
    getTransaction: getTransaction(deps),
    listTransactions: listTransactions(deps),
    getOutboxStatus: async () => ({ status: await outboxStatus(outbox) }),
  });
}
