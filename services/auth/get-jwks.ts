// GetJwks: the public verification keys, for every service and for banks.
import { create } from "@bufbuild/protobuf";
import { GetJwksResponseSchema } from "../../gen/fuel/auth/v1/auth_pb.js";
import { JWKS_MAX_AGE_S, type SigningKeys } from "./keys.js";

export const getJwks = (keys: SigningKeys) => async () =>
  create(GetJwksResponseSchema, { jwksJson: JSON.stringify(await keys.jwks()), maxAgeSeconds: JWKS_MAX_AGE_S });
