// AuthService: users and roles, OTP login, JWT signing keys, machine credentials.
import { AuthService } from "../../gen/fuel/auth/v1/auth_pb.js";
import { serviceModule } from "../../platform/service.js";
import { ensureBootstrapAdmin } from "./bootstrap.js";
import { authContext } from "./context.js";
import { routes } from "./routes.js";

export const authModule = serviceModule({
  name: "auth",
  services: [AuthService],
  context: authContext,
  routes,
  async start(deps) {
    await ensureBootstrapAdmin(deps);
    return async () => undefined;
  },
});
