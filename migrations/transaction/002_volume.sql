-- Up Migration
-- Authorisation by volume ("fill 40 L"): the volume asked for, in millilitres; 0 for an
-- authorisation by amount. With it set, the price at authorisation (authorized_price) is
-- the price of the sale: Settle by volume uses it, and a metered settle must name it.
ALTER TABLE transaction.transactions ADD COLUMN requested_volume_ml bigint NOT NULL DEFAULT 0 CHECK (requested_volume_ml >= 0);

-- Down Migration
ALTER TABLE transaction.transactions DROP COLUMN requested_volume_ml;
