// RegisterPushDevice: the caller's device token; registering it again refreshes it (and a
// token that moved to another signed-in user follows them).
import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { PushPlatform, RegisterPushDeviceResponseSchema, type RegisterPushDeviceRequest, type RegisterPushDeviceResponse } from "../../gen/fuel/notification/v1/notification_pb.js";
import { principalOf } from "../../platform/context.js";
import { invalidArgument } from "../../platform/errors.js";
import { enumValue } from "../../platform/validate.js";
import { PLATFORM_NAMES } from "./convert.js";
import type { HandlerDeps } from "./handler-deps.js";
import { isUuid } from "./paging.js";
import { deviceToken } from "./rules.js";
import { upsertPushDevice } from "./store.js";

export function registerPushDevice({ deps }: HandlerDeps) {
  return async (req: RegisterPushDeviceRequest, ctx: HandlerContext): Promise<RegisterPushDeviceResponse> => {
    const platform = PLATFORM_NAMES[enumValue("platform", req.platform, PushPlatform)]!;
    const token = deviceToken("device_token", req.deviceToken);
    const userId = principalOf(ctx).subjectId;
    if (!isUuid(userId)) throw invalidArgument("authorization", "the caller is not a user who can receive push notifications", "NOT_A_USER");
    const deviceId = await upsertPushDevice(deps.pool, userId, platform, token, deps.now());
    return create(RegisterPushDeviceResponseSchema, { deviceId });
  };
}
