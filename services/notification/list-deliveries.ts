// ListDeliveries: a system admin sees every delivery and may filter by user; everyone
// else sees only deliveries addressed to them. Newest first, keyset-paginated.
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { Channel, DeliveryStatus, ListDeliveriesResponseSchema, type ListDeliveriesRequest, type ListDeliveriesResponse } from "../../gen/fuel/notification/v1/notification_pb.js";
import { Role } from "../../gen/fuel/common/v1/common_pb.js";
import { principalOf } from "../../platform/context.js";
import { encodePageToken, enumValue, optionalUuid, pageSize } from "../../platform/validate.js";
import { channelName, statusName, toDelivery } from "./convert.js";
import type { HandlerDeps } from "./handler-deps.js";
import { decodeCursor, isUuid } from "./paging.js";
import { listDeliveries as listRows } from "./store.js";

export function listDeliveries({ deps }: HandlerDeps) {
  return async (req: ListDeliveriesRequest, ctx: HandlerContext): Promise<ListDeliveriesResponse> => {
    const limit = pageSize(req.pageSize);
    const after = decodeCursor(req.pageToken);
    const requestedUser = optionalUuid("user_id", req.userId);
    const channel = req.channel === Channel.UNSPECIFIED ? null : channelName(enumValue("channel", req.channel, Channel));
    const status = req.status === DeliveryStatus.UNSPECIFIED ? null : statusName(enumValue("status", req.status, DeliveryStatus));
    const p = principalOf(ctx);
    let userId: string | null;
    if (p.role === Role.SYSTEM_ADMIN) userId = requestedUser;
    else {
      // Others always see their own, whatever user_id says.
      if (!isUuid(p.subjectId)) return create(ListDeliveriesResponseSchema, {});
      userId = p.subjectId.toLowerCase();
    }
    const rows = await listRows(deps.pool, { limit: limit + 1, after, userId, channel, status });
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return create(ListDeliveriesResponseSchema, {
      deliveries: page.map(toDelivery),
      nextPageToken: rows.length > limit && last ? encodePageToken({ t: last.create_time.toISOString(), id: last.delivery_id }) : "",
    });
  };
}
