// Loan products as this instance last saw them (read, created or updated), so that a
// settlement's loan can be written without reading its product first. Only a hint: the
// write applies only while the product still has the version its terms were taken from
// (every change to a product bumps it), so a product changed by another instance, or
// behind our back, costs one call on the slow path, which reads it again.
import type { Settlement } from "./create-loan-rule.js";
import type { ProductRow } from "./store.js";

/** Products (and defaults) kept at most; the oldest seen goes first. */
export const PRODUCTS_KEPT_MAX = 10_000;

export class ProductTerms {
  private readonly byId = new Map<string, ProductRow>();
  /** The default product of a bank in a currency, by `bank:currency`. */
  private readonly defaults = new Map<string, ProductRow>();

  constructor(private readonly keptMax = PRODUCTS_KEPT_MAX) {}

  /** The product the settlement asks for, as last seen; undefined when not known. */
  of(s: Pick<Settlement, "productId" | "bankId" | "currency">): ProductRow | undefined {
    return s.productId ? this.byId.get(s.productId) : this.defaults.get(defaultKey(s.bankId, s.currency));
  }

  /** A product as just read or written. */
  saw(p: ProductRow): void {
    put(this.byId, p.product_id, p, this.keptMax);
    const k = defaultKey(p.bank_id, p.currency);
    if (p.is_default && p.status === "ACTIVE") put(this.defaults, k, p, this.keptMax);
    else if (this.defaults.get(k)?.product_id === p.product_id) this.defaults.delete(k);
  }

  /** What the settlement asked for is not as last seen (or there is none): ask the database next time. */
  forget(s: Pick<Settlement, "productId" | "bankId" | "currency">): void {
    if (s.productId) this.byId.delete(s.productId);
    else this.defaults.delete(defaultKey(s.bankId, s.currency));
  }
}

const defaultKey = (bankId: string, currency: string) => `${bankId}:${currency}`;

function put(m: Map<string, ProductRow>, k: string, p: ProductRow, max: number): void {
  m.delete(k);
  if (m.size >= max) m.delete(m.keys().next().value!);
  m.set(k, p);
}
