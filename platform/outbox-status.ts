// GetOutboxStatus, the same handler in every service that owns an outbox: its state read
// now, as the contract's OutboxStatus.
import { create } from "@bufbuild/protobuf";
import { OutboxStatusSchema, type OutboxStatus } from "../gen/fuel/common/v1/common_pb.js";
import type { OutboxSample } from "./outbox-metrics.js";

export interface StatusSource {
  readonly name: string;
  status(): Promise<OutboxSample>;
}

/** Reads `outbox` and answers it as OutboxStatus; whole seconds, rounded down. */
export async function outboxStatus(outbox: StatusSource): Promise<OutboxStatus> {
  const s = await outbox.status();
  return create(OutboxStatusSchema, {
    outbox: outbox.name,
    backlog: BigInt(s.backlog),
    oldestAgeSeconds: BigInt(Math.floor(s.oldestAgeSeconds)),
    givenUp: BigInt(s.givenUp),
  });
}
