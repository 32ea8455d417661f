// The money module (platform/money.ts): the one rounding rule every fee, interest accrual
// and metered sale goes through, and the one reader of Money fields.
import fc from "fast-check";
import { suite } from "uvu";
import * as assert from "uvu/assert";
import { Code, ConnectError } from "@connectrpc/connect";
import { applyBps, moneyIn, roundHalfEven, saleAmount, toMoney, volumeFor } from "../platform/money.js";

const test = suite("money rules");

test("one rule: a sale, a fee and an interest accrual round a tie the same way (to even)", () => {
  // 1.5 and 2.5 minor units, reached three ways.
  assert.is(saleAmount(3n, 500n), 2n);
  assert.is(saleAmount(5n, 500n), 2n);
  assert.is(applyBps(3_000n, 5), 2n);
  assert.is(applyBps(5_000n, 5), 2n);
  assert.is(roundHalfEven(3n, 2n), 2n);
  assert.is(roundHalfEven(5n, 2n), 2n);
});

test("roundHalfEven: property — within half a unit, ties to even, odd-symmetric", () => {
  fc.assert(
    fc.property(fc.bigInt({ min: -(10n ** 20n), max: 10n ** 20n }), fc.bigInt({ min: 1n, max: 10n ** 9n }), (n, d) => {
      const q = roundHalfEven(n, d);
      const diff = n - q * d;
      const twice = 2n * (diff < 0n ? -diff : diff);
      assert.ok(twice <= d);
      if (twice === d) assert.is(q % 2n, 0n);
      assert.is(roundHalfEven(-n, d), -q);
    }),
    { numRuns: 2000 },
  );
});

test("volumeFor then saleAmount: the volume an approval allows never costs more than it", () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 1n, max: 10n ** 12n }), fc.bigInt({ min: 1n, max: 10n ** 7n }), (amountMinor, price) => {
      assert.ok(saleAmount(price, volumeFor(amountMinor, price)) <= amountMinor);
    }),
    { numRuns: 2000 },
  );
});

test("moneyIn: names the field of every mistake, INVALID_ARGUMENT", () => {
  const bad = (f: () => unknown, field: string) => {
    try {
      f();
      assert.unreachable(`${field} accepted`);
    } catch (err) {
      assert.instance(err, ConnectError);
      assert.is((err as ConnectError).code, Code.InvalidArgument);
      assert.match((err as ConnectError).message, field);
    }
  };
  bad(() => moneyIn("amount", undefined), "amount");
  bad(() => moneyIn("amount", toMoney(1n, "naira")), "amount.currency");
  bad(() => moneyIn("amount", toMoney(1n, "USD"), { currency: "NGN" }), "amount.currency");
  bad(() => moneyIn("amount", toMoney(0n, "NGN"), { min: 1n }), "amount.amount_minor");
  assert.equal(moneyIn("amount", toMoney(1_850n, "NGN"), { min: 1n, currency: "NGN" }), { amountMinor: 1_850n, currency: "NGN" });
});

test.run();
