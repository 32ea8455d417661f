// Every domain service module, by name. The runtime starts whichever subset SERVICES names.
import type { ServiceName } from "../platform/config.js";
import type { ServiceModule } from "../platform/service.js";
import { authModule } from "./auth/index.js";
import { creditModule } from "./credit/index.js";
import { kycModule } from "./kyc/index.js";
import { loanModule } from "./loan/index.js";
import { notificationModule } from "./notification/index.js";
import { paymentModule } from "./payment/index.js";
import { stationModule } from "./station/index.js";
import { transactionModule } from "./transaction/index.js";

export const MODULES: Record<ServiceName, ServiceModule> = {
  auth: authModule,
  kyc: kycModule,
  credit: creditModule,
  transaction: transactionModule,
  loan: loanModule,
  payment: paymentModule,
  station: stationModule,
  notification: notificationModule,
};

export const ALL_SERVICES = Object.values(MODULES).flatMap((m) => m.services);
