// Every decline reason has one advice code, the same the contract's comment promises, and
// words for the driver's notice.
import { readFileSync } from "node:fs";
import * as assert from "uvu/assert";
import { suite } from "uvu";
import { DeclineAdvice, DeclineReason } from "../gen/fuel/credit/v1/credit_line_pb.js";
import { adviceFor, declineWords } from "../platform/decline-advice.js";

const test = suite("decline advice");
const reasons = Object.values(DeclineReason).filter((v): v is DeclineReason => typeof v === "number" && v !== DeclineReason.UNSPECIFIED);

test("each decline reason maps to exactly one advice, as the proto comment says", () => {
  const proto = readFileSync(new URL("../proto/fuel/credit/v1/credit_line.proto", import.meta.url), "utf8");
  for (const r of reasons) {
    const name = DeclineReason[r]!;
    const advice = adviceFor(r);
    assert.ok(advice !== DeclineAdvice.UNSPECIFIED, `${name} has no advice`);
    // The comment right above the enum value names the advice.
    const m = proto.match(new RegExp(`Advice: ([A-Z_]+)\\.\\n\\s+DECLINE_REASON_${name} = `));
    assert.ok(m, `the proto comment of DECLINE_REASON_${name} names no advice`);
    assert.is(m![1], DeclineAdvice[advice], `DECLINE_REASON_${name}: code and contract disagree`);
  }
  assert.is(adviceFor(DeclineReason.UNSPECIFIED), DeclineAdvice.UNSPECIFIED);
});

test("every reason has words for the driver: why, and what to do", () => {
  for (const r of reasons) {
    const w = declineWords(r);
    assert.ok(w.why.length > 10 && !w.why.includes("declined"), `${DeclineReason[r]}: no reason in words`);
    assert.ok(w.todo.length > 5, `${DeclineReason[r]}: nothing to do`);
  }
});

test.run();
