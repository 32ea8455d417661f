#!/usr/bin/python3
"""An outside check of the sale path's promises, with clients that share nothing with the
Node code: Python grpcio (stubs generated from proto/ at run time) as the POS terminal,
plain HTTP (Connect JSON, urllib) for everything else, every token from the real flows
(OTP read from the dev inbox, client credentials).

It starts the mesh itself (bin/mesh.ts, every service and the gateway) on a fresh database
of the PostgreSQL in DATABASE_URL and the Redis in REDIS_URL, with fixed secrets as a
deployment has them, then:
  A. merchant B's admin asks for a POS credential of merchant A's station: refused exactly
     as for a station that does not exist;
  B. kills the mesh (SIGKILL) 0-20 ms into an Authorize or a Settle, restarts it, and
     retries with the same idempotency key: each retry must answer within 2 s of the mesh
     being ready, and every sale ends with one hold, one capture and one loan.

    apt-get install python3-grpcio python3-grpc-tools
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 \
      /usr/bin/python3 interop/crash_probe.py
"""
import atexit, base64, json, os, random, re, signal, socket, subprocess, sys, tempfile, threading, time, uuid
import urllib.error, urllib.parse, urllib.request

import grpc
from grpc_tools import protoc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE_DB = os.environ.get("DATABASE_URL") or sys.exit("set DATABASE_URL (a real PostgreSQL) and REDIS_URL")
REDIS = os.environ.get("REDIS_URL") or sys.exit("set REDIS_URL (a real Redis)")

# Stubs for the terminal's service only, generated from our contracts.
GEN = tempfile.mkdtemp(prefix="fuel-probe-")
WKT = os.path.join(os.path.dirname(protoc.__file__), "_proto")
for f in ["fuel/common/v1/common.proto", "fuel/credit/v1/credit_line.proto", "fuel/transaction/v1/transaction.proto"]:
    if protoc.main(["protoc", f"-I{ROOT}/proto", f"-I{WKT}", f"--python_out={GEN}", f"--grpc_python_out={GEN}", f"{ROOT}/proto/{f}"]) != 0:
        sys.exit(f"protoc failed on {f}")
for d in ["fuel", "fuel/common", "fuel/common/v1", "fuel/credit", "fuel/credit/v1", "fuel/transaction", "fuel/transaction/v1"]:
    open(os.path.join(GEN, d, "__init__.py"), "a").close()
sys.path.insert(0, GEN)
from fuel.transaction.v1 import transaction_pb2 as T, transaction_pb2_grpc as TG  # noqa: E402
from fuel.common.v1 import common_pb2 as C  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT, INBOX = free_port(), free_port()
SERVICE_PORTS = {s: free_port() for s in ["AUTH", "KYC", "CREDIT", "TRANSACTION", "LOAN", "PAYMENT", "STATION", "NOTIFICATION"]}
GW = f"http://127.0.0.1:{PORT}"
DBNAME = "probe_" + uuid.uuid4().hex[:8]
base = urllib.parse.urlparse(BASE_DB)
DB = base._replace(path="/" + DBNAME).geturl()
PSQL = ["psql", BASE_DB]
R = str(random.randint(100000, 999999))
ADMIN = "+23480" + R + "01"
subprocess.run(PSQL + ["-c", f"CREATE DATABASE {DBNAME}"], check=True, capture_output=True)
atexit.register(lambda: subprocess.run(PSQL + ["-c", f"DROP DATABASE IF EXISTS {DBNAME} WITH (FORCE)"], capture_output=True))

# Fixed across restarts, as in a deployment: QR codes are signed with a key derived from
# MESH_SECRET, so a mesh with fresh random secrets would not accept the QR being retried.
SECRETS = [base64.b64encode(os.urandom(32)).decode() for _ in range(3)]
mesh = None
atexit.register(lambda: mesh and mesh.poll() is None and mesh.kill())


def start_mesh():
    """Starts the mesh; returns the monotonic time it printed its ready line."""
    global mesh
    env = dict(os.environ, DATABASE_URL=DB, REDIS_URL=REDIS, PORT=str(PORT), DEV_INBOX_PORT=str(INBOX),
               BOOTSTRAP_ADMIN_PHONE=ADMIN, MESH_SECRET=SECRETS[0], OTP_HMAC_KEY=SECRETS[1], PII_ENCRYPTION_KEY=SECRETS[2], METRICS_PORT="0", LOG_LEVEL="error", RATE_LIMIT_PER_MINUTE="100000", TRANSACTION_QR_PER_MINUTE="1000")
    for s, p in SERVICE_PORTS.items():
        env[f"{s}_PORT"] = str(p)
    mesh = subprocess.Popen(["node", "--max-semi-space-size=32", "--import", "tsx", "bin/mesh.ts"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    while True:
        line = mesh.stdout.readline()
        if not line:
            sys.exit("the mesh exited before it was ready")
        if "ready" in line:
            threading.Thread(target=lambda p=mesh: [None for _ in p.stdout], daemon=True).start()
            return time.monotonic()



def rpc(path, body, token=None, key=True):
    h = {"content-type": "application/json"}
    if token:
        h["authorization"] = f"Bearer {token}"
    if key:
        h["idempotency-key"] = str(uuid.uuid4())
    req = urllib.request.Request(f"{GW}/{path}", data=json.dumps(body).encode(), headers=h, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=15) as r:
            return 200, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def ok(path, body, token=None):
    s, j = rpc(path, body, token)
    if s != 200:
        sys.exit(f"{path}: {s} {j}")
    return j

seen = []


def code_for(phone):
    """The newest unread 6-digit code the dev inbox holds for `phone`."""
    for _ in range(200):
        with urllib.request.urlopen(f"http://127.0.0.1:{INBOX}/messages?channel=sms&to={urllib.parse.quote(phone)}") as r:
            msgs = json.loads(r.read())["messages"]
        for m in msgs:
            c = re.search(r"\b(\d{6})\b", m["body"])
            if c and m["id"] not in seen:
                seen.append(m["id"])
                return c.group(1)
        time.sleep(0.05)
    sys.exit(f"no SMS reached {phone}")



def staff_login(phone):
    ok("fuel.auth.v1.AuthService/RequestOtp", {"phone": phone})
    return ok("fuel.auth.v1.AuthService/VerifyOtp", {"phone": phone, "code": code_for(phone)})["session"]["accessToken"]

start_mesh()
admin = staff_login(ADMIN)
print("admin signed in through OTP")

# ---- A: tenancy exploit
mA = ok("fuel.kyc.v1.KycService/CreateMerchant", {"name": "A Fuel", "registrationNumber": "RC-A" + uuid.uuid4().hex[:6], "contactEmail": "a@a.example"}, admin)["merchant"]["merchantId"]
mB = ok("fuel.kyc.v1.KycService/CreateMerchant", {"name": "B Fuel", "registrationNumber": "RC-B" + uuid.uuid4().hex[:6], "contactEmail": "b@b.example"}, admin)["merchant"]["merchantId"]
station = {"name": "A One", "address": {"line1": "1 Marina", "city": "Lagos", "countryCode": "NG"}, "location": {"latitude": 6.45, "longitude": 3.39},
           "currency": "NGN", "openingHours": {"timeZone": "Africa/Lagos", "alwaysOpen": True}, "pumps": [{"label": "1", "fuelTypes": ["FUEL_TYPE_PETROL"]}]}
sA = ok("fuel.station.v1.StationService/CreateStation", dict(station, merchantId=mA), admin)["station"]["stationId"]
phoneB = "+23480" + R + "02"
ok("fuel.auth.v1.AuthService/CreateUser", {"phone": phoneB, "displayName": "B admin", "role": "ROLE_MERCHANT_ADMIN", "organizationId": mB}, admin)
bAdmin = staff_login(phoneB)
s, j = rpc("fuel.auth.v1.AuthService/CreateMachineCredential", {"kind": "MACHINE_KIND_POS_TERMINAL", "stationId": sA, "merchantId": mB, "label": "x"}, bAdmin)
print("A. B asks for a terminal of A's station under B:", s, j.get("code"), j.get("message"))
if s == 200 or "clientSecret" in j:
    sys.exit("merchant B got a credential for merchant A's station")
s2, j2 = rpc("fuel.auth.v1.AuthService/CreateMachineCredential", {"kind": "MACHINE_KIND_POS_TERMINAL", "stationId": str(uuid.uuid4()), "merchantId": mB, "label": "x"}, bAdmin)
same = (s, j.get("code"), j.get("message")) == (s2, j2.get("code"), j2.get("message"))
print("   a station that does not exist:", s2, j2.get("code"), j2.get("message"), "| the same answer:", same)
if not same:
    sys.exit("a foreign station answers otherwise than a missing one")
s3, j3 = rpc("fuel.auth.v1.AuthService/CreateMachineCredential", {"kind": "MACHINE_KIND_POS_TERMINAL", "stationId": sA, "merchantId": mA, "label": "x"}, bAdmin)
print("   B naming A as merchant:", s3, j3.get("code"))

# ---- B: the credit world, through the real flows
dphone = "+2348031239" + str(random.randint(100, 999))
ok("fuel.auth.v1.AuthService/CustomerRequestOtp", {"phone": dphone})
onb = ok("fuel.auth.v1.AuthService/CustomerVerifyOtp", {"phone": dphone, "code": code_for(dphone)})["onboardingToken"]
d = ok("fuel.kyc.v1.KycService/OnboardDriver", {"onboardingToken": onb, "fullName": "Probe Driver", "nationalId": "NIN" + str(random.randint(10**10, 10**11)),
        "driverLicenseNumber": "LAG-2024-1", "vehicle": {"plateNumber": "LSD 1 KJ", "fuelType": "FUEL_TYPE_PETROL", "tankCapacityMl": "80000", "makeModel": "Hiace"}})
driverId, dtok = d["driver"]["driverId"], d["session"]["accessToken"]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
PDF = base64.b64encode(b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n").decode()
for t, b, n in [("DOCUMENT_TYPE_NATIONAL_ID", PNG, "a.png"), ("DOCUMENT_TYPE_DRIVER_LICENSE", PNG, "b.png"), ("DOCUMENT_TYPE_VEHICLE_REGISTRATION", PDF, "c.pdf")]:
    ok("fuel.kyc.v1.KycService/UploadDocument", {"owner": {"driverId": driverId}, "documentType": t, "content": b, "fileName": n}, dtok)
for doc in ok("fuel.kyc.v1.KycService/ListDocuments", {"owner": {"driverId": driverId}}, admin)["documents"]:
    ok("fuel.kyc.v1.KycService/VerifyDocument", {"documentId": doc["documentId"], "decision": "DECISION_APPROVE", "reason": "ok"}, admin)
bank = ok("fuel.kyc.v1.KycService/CreateBank", {"name": "Probe Bank", "code": "PB" + str(random.randint(1000, 9999)), "currency": "NGN"}, admin)["bank"]["bankId"]
ok("fuel.auth.v1.AuthService/CreateUser", {"phone": "+23480" + R + "03", "displayName": "Officer", "role": "ROLE_BANK_ADMIN", "organizationId": bank}, admin)
officer = staff_login("+23480" + R + "03")
ok("fuel.credit.v1.CreditService/SetCreditPolicy", {"currency": "NGN", "expectedVersion": "0", "categoryLimits": [
    {"category": c, "maxLimit": {"amountMinor": m, "currency": "NGN"}} for c, m in [("RISK_CATEGORY_LOW", "20000000"), ("RISK_CATEGORY_MEDIUM", "10000000"), ("RISK_CATEGORY_HIGH", "5000000")]]}, officer)
ok("fuel.loan.v1.LoanService/CreateLoanProduct", {"name": "Fuel 30", "currency": "NGN", "termDays": 30, "isDefault": True}, officer)
ok("fuel.credit.v1.CreditService/CreateCreditLine", {"driverId": driverId, "currency": "NGN"}, officer)
cred = ok("fuel.auth.v1.AuthService/CreateMachineCredential", {"kind": "MACHINE_KIND_POS_TERMINAL", "stationId": sA, "merchantId": mA, "label": "pump 1"}, admin)
pos_token = ok("fuel.auth.v1.AuthService/ExchangeClientCredentials", {"clientId": cred["credential"]["clientId"], "clientSecret": cred["clientSecret"]})["accessToken"]
ok("fuel.station.v1.StationService/UpdateFuelAvailability", {"stationId": sA, "updates": [{"fuelType": "FUEL_TYPE_PETROL", "inStock": True, "priceMinorPerLitre": "65000", "currency": "NGN"}]}, pos_token)
print("B. world ready: driver with a line, A's terminal signed in with client credentials")


def stub():
    return TG.TransactionServiceStub(grpc.insecure_channel(f"127.0.0.1:{PORT}"))


def md(key):
    return (("authorization", f"Bearer {pos_token}"), ("idempotency-key", key))


def psql(sql):
    return subprocess.run(["psql", DB, "-tAc", sql], capture_output=True, text=True).stdout.strip()



RETRY = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}


def until_ok(fn):
    """Calls as a terminal does: a retryable answer is retried with the same key every 100 ms."""
    n = 0
    while True:
        n += 1
        try:
            return fn(), n
        except grpc.RpcError as e:
            if e.code() not in RETRY:
                raise
            time.sleep(0.1)


results = []
for method in ["authorize", "settle"]:
    for delay_ms in [0, 2, 4, 6, 8, 12, 20]:
        qr = ok("fuel.transaction.v1.TransactionService/GenerateQrCode", {"fuelType": "FUEL_TYPE_PETROL"}, dtok)["qrCode"]["payload"]
        s = stub()
        areq = T.AuthorizeRequest(qr_payload=qr, station_id=sA, fuel_type=C.FUEL_TYPE_PETROL, requested_amount=C.Money(amount_minor=500_000, currency="NGN"))
        akey, skey = str(uuid.uuid4()), str(uuid.uuid4())
        if method == "authorize":
            fut = s.Authorize.future(areq, metadata=md(akey), timeout=10)
        else:
            txn = s.Authorize(areq, metadata=md(akey), timeout=10).transaction.transaction_id
            sreq = T.SettleRequest(transaction_id=txn, metered=T.MeteredSale(volume_ml=5_000, price_minor_per_litre=65_000))
            fut = s.Settle.future(sreq, metadata=md(skey), timeout=10)
        time.sleep(delay_ms / 1000)
        mesh.send_signal(signal.SIGKILL)
        mesh.wait()
        try:
            fut.result()
            first = "OK before the kill"
        except grpc.RpcError as e:
            first = e.code().name
        ready = start_mesh()
        s = stub()
        if method == "authorize":
            r, n = until_ok(lambda: s.Authorize(areq, metadata=md(akey), timeout=10))
            txn = r.transaction.transaction_id
            if r.transaction.status != T.TRANSACTION_STATUS_AUTHORIZED:
                sys.exit(f"the retried Authorize answered {T.TransactionStatus.Name(r.transaction.status)}")
            sreq = T.SettleRequest(transaction_id=txn, metered=T.MeteredSale(volume_ml=5_000, price_minor_per_litre=65_000))
            answered = time.monotonic() - ready
            r2, _ = until_ok(lambda: s.Settle(sreq, metadata=md(skey), timeout=10))
        else:
            r2, n = until_ok(lambda: s.Settle(sreq, metadata=md(skey), timeout=10))
            answered = time.monotonic() - ready
        st = T.TransactionStatus.Name(r2.transaction.status)
        # kind 3 = JOURNAL_ENTRY_KIND_CAPTURE
        facts = psql(f"SELECT (SELECT count(*) FROM credit.holds WHERE transaction_id='{txn}')||'/'||(SELECT count(*) FROM credit.journal_entries WHERE transaction_id='{txn}' AND kind=3)||'/'||(SELECT count(*) FROM loan.loans WHERE transaction_id='{txn}')")
        results.append((method, delay_ms, first, round(answered, 2), n, st, facts))
        print(f"   kill {method} +{delay_ms:>2} ms: first call {first:<18} retry answered {answered:.2f} s after ready ({n} tries) → {st}; holds/captures/loans {facts}")

time.sleep(1)
# every probe sale ends with exactly one hold, one capture, one loan (or SETTLED waiting on loan → sweeper)
ledger_ok = ok("fuel.credit.v1.CreditService/VerifyLedger", {}, admin).get("consistent") is True
print("VerifyLedger consistent:", ledger_ok)
mesh.send_signal(signal.SIGTERM)
mesh.wait()
slow = [r for r in results if r[3] > 2.0 or r[6] != "1/1/1" or r[5] != "TRANSACTION_STATUS_SETTLED"]
print(f"{len(results)} kills, retries answered {min(r[3] for r in results):.2f}-{max(r[3] for r in results):.2f} s after ready; {len(slow)} broke a promise")
sys.exit(1 if slow or not ledger_ok else 0)
