#!/usr/bin/python3
"""An independent gRPC client (Python grpcio, not Node) against a running gateway.

Speaks raw protobuf (no generated code, nothing shared with the Node side): lists
services through reflection, checks health, fetches the JWKS, requests an OTP, and
shows that a protected method answers UNAUTHENTICATED with its status details and
x-trace-id.

    apt-get install python3-grpcio
    npm start &   # or any running gateway
    /usr/bin/python3 interop/python_check.py localhost:8080
"""
import json
import sys

import grpc
from google.protobuf.internal.decoder import _DecodeVarint  # type: ignore

target = sys.argv[1] if len(sys.argv) > 1 else "localhost:8080"

channel = grpc.insecure_channel(target)

def call(path, req_bytes=b""):
    fn = channel.unary_unary(path, request_serializer=lambda b: b, response_deserializer=lambda b: b)
    return fn.with_call(req_bytes, timeout=10)

# Reflection: list services (raw protobuf: field 7 list_services = "").
refl = channel.stream_stream("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
                             request_serializer=lambda b: b, response_deserializer=lambda b: b)
resp = list(refl(iter([bytes([0x3a, 0x00])]), timeout=10))
names = []
raw = resp[0]
# parse ServerReflectionResponse.list_services_response (field 6) -> ListServiceResponse.service (1) -> name (1)
def fields(buf):
    i = 0
    while i < len(buf):
        key, i = _DecodeVarint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 2:
            ln, i = _DecodeVarint(buf, i)
            yield num, buf[i:i + ln]
            i += ln
        elif wt == 0:
            v, i = _DecodeVarint(buf, i)
            yield num, v
        else:
            raise ValueError("unexpected wire type")

for num, val in fields(raw):
    if num == 6:
        for n2, svc in fields(val):
            for n3, name in fields(svc):
                if n3 == 1:
                    names.append(name.decode())
print("reflection services:", ", ".join(sorted(names)))

body, c = call("/grpc.health.v1.Health/Check")
print("health:", "SERVING" if body == bytes([0x08, 0x01]) else body, "x-trace-id:", dict(c.initial_metadata()).get("x-trace-id"))

body, c = call("/fuel.auth.v1.AuthService/GetJwks")
jwks = dict(fields(body))[1].decode()
print("jwks kids:", [k["kid"] for k in json.loads(jwks)["keys"]])

phone = sys.argv[2].encode() if len(sys.argv) > 2 else b"+2348099990000"
for attempt in (1, 2):
    try:
        body, c = call("/fuel.auth.v1.AuthService/RequestOtp", bytes([0x0a, len(phone)]) + phone)
        print(f"RequestOtp #{attempt}:", dict(fields(body)), "x-trace-id:", dict(c.initial_metadata()).get("x-trace-id"))
    except grpc.RpcError as e:
        print(f"RequestOtp #{attempt}:", e.code().name, "-", e.details())

try:
    call("/fuel.kyc.v1.KycService/ListBanks")
except grpc.RpcError as e:
    trailers = dict(e.trailing_metadata() or [])
    print("ListBanks without a token:", e.code().name, "-", e.details(),
          "| grpc-status-details-bin present:", "grpc-status-details-bin" in trailers,
          "| x-trace-id:", dict(e.initial_metadata() or []).get("x-trace-id") or trailers.get("x-trace-id"))
