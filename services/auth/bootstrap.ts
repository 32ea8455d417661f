// The first SYSTEM_ADMIN comes from configuration (BOOTSTRAP_ADMIN_PHONE): created at
// start if no user has that phone. Replicas starting together race harmlessly: the
// insert is ON CONFLICT DO NOTHING. Other admins are created by admins (CreateUser).
import { randomUUID } from "node:crypto";
import { log } from "../../platform/logger.js";
import type { AuthContext } from "./context.js";
import * as store from "./store.js";

export async function ensureBootstrapAdmin(deps: AuthContext): Promise<void> {
  const phone = deps.settings.bootstrapAdminPhone;
  if (!phone) return;
  const inserted = await store.insertUserIfAbsent(deps.pool, {
    userId: randomUUID(),
    phone,
    displayName: "Bootstrap administrator",
    role: "SYSTEM_ADMIN",
    agencyId: null,
    bankId: null,
    merchantId: null,
    driverId: null,
    createdBy: "bootstrap",
    createTime: deps.now(),
  });
  if (inserted) {
    log.info("bootstrap SYSTEM_ADMIN created from BOOTSTRAP_ADMIN_PHONE");
    return;
  }
  const existing = await store.userByPhone(deps.pool, phone);
  if (existing && existing.role !== "SYSTEM_ADMIN") {
    log.warn({ user_id: existing.user_id }, "BOOTSTRAP_ADMIN_PHONE belongs to a user who is not a SYSTEM_ADMIN; left unchanged");
  }
}
