// AuthService: users and roles, OTP login, JWT signing keys, machine credentials.
import { AuthService } from "../../gen/fuel/auth/v1/auth_pb.js";
import type { ServiceModule } from "../../platform/service.js";
import { ensureBootstrapAdmin } from "./bootstrap.js";
import { routes } from "./routes.js";

export const authModule: ServiceModule = {
  name: "auth",
  services: [AuthService],
  routes,
  async start(deps) {
    await ensureBootstrapAdmin(deps);
    return async () => undefined;
  },
};
