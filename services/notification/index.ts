import { NotificationService } from "../../gen/fuel/notification/v1/notification_pb.js";
import type { ServiceModule } from "../../platform/service.js";

export const notificationModule: ServiceModule = {
  name: "notification",
  services: [NotificationService],
  routes: (router) => router.service(NotificationService, {}),
};
