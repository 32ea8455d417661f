// Every screen: how it renders, and the one read-only call that shows whether the server
// lets the signed-in role in (used when the role is not offered the screen).
import type { ScreenId } from "../roles.js";
import { probeAdmin, renderAdmin } from "./admin.js";
import { renderAging } from "./aging.js";
import { probeCredit, renderCredit } from "./credit.js";
import { probeKyc, renderKyc } from "./kyc.js";
import { probeMerchant, renderStations } from "./stations.js";
import { renderTerminals } from "./terminals.js";

export interface Screen {
  render(main: HTMLElement, args: string[]): void;
  probe(): Promise<unknown>;
}

export const SCREENS: Record<ScreenId, Screen> = {
  kyc: { render: renderKyc, probe: probeKyc },
  credit: { render: renderCredit, probe: probeCredit },
  // Drivers may list their own loans: the bank-only read shows the refusal.
  aging: { render: renderAging, probe: probeCredit },
  stations: { render: renderStations, probe: probeMerchant },
  terminals: { render: renderTerminals, probe: probeMerchant },
  admin: { render: renderAdmin, probe: probeAdmin },
};
