// StationService: merchants' stations, live fuel availability and prices, price history,
// nearby search on a GiST index, and a live availability stream.
// Background work: the replica's LISTEN connection feeding the watch hub (real
// PostgreSQL); embedded (PGlite), writers feed the hub in-process instead.
import { StationService } from "../../gen/fuel/station/v1/station_pb.js";
import { log } from "../../platform/logger.js";
import { serviceModule } from "../../platform/service.js";
import { stationContext, type StationContext } from "./context.js";
import { routes } from "./routes.js";
import { ChangeListener } from "./watch-hub.js";

export const stationModule = serviceModule<StationContext>({
  name: "station",
  services: [StationService],
  context: stationContext,
  routes: (router, ctx) => routes(router, ctx, ctx.hub),
  async start(ctx) {
    const { hub } = ctx;
    let listener: ChangeListener | null = null;
    if (!ctx.database.embedded) {
      // LISTEN holds a session: the direct URL, never a pooler in transaction mode.
      listener = new ChangeListener(ctx.database.directUrl, hub);
      await listener.start();
    } else {
      log.info("station: embedded database, WatchAvailability fans out in-process (single process only)");
    }
    return async () => {
      await hub.close();
      await listener?.stop();
    };
  },
});
