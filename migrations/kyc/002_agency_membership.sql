-- Up Migration
-- Membership of an agency needs the agency's consent. A driver's latest request to join
-- an agency lives beside the profile; `agency_id` (what scoring, the agency's access and
-- the sales read) is set only when an admin of that agency accepts.
-- Drivers who are already members keep their membership, recorded as accepted by this
-- migration at the time they onboarded.

ALTER TABLE kyc.drivers
  ADD COLUMN membership_agency_id   uuid REFERENCES kyc.agencies(agency_id),
  ADD COLUMN membership_status      text CHECK (membership_status IN ('PENDING','ACCEPTED','REJECTED')),
  ADD COLUMN membership_request_time timestamptz,
  ADD COLUMN membership_decided_by  text,
  ADD COLUMN membership_decide_time timestamptz,
  ADD COLUMN membership_reason      text NOT NULL DEFAULT '';

UPDATE kyc.drivers
   SET membership_agency_id = agency_id, membership_status = 'ACCEPTED', membership_request_time = create_time,
       membership_decided_by = 'migration', membership_decide_time = create_time
 WHERE agency_id IS NOT NULL;

ALTER TABLE kyc.drivers
  -- A request names an agency, has a state and a time, all or none.
  ADD CONSTRAINT drivers_membership_whole CHECK (
    (membership_agency_id IS NULL) = (membership_status IS NULL)
    AND (membership_status IS NULL) = (membership_request_time IS NULL)),
  -- Decided requests say who and when; pending ones do not.
  ADD CONSTRAINT drivers_membership_decided CHECK (
    (membership_status IN ('ACCEPTED','REJECTED')) = (membership_decided_by IS NOT NULL)
    AND (membership_decided_by IS NULL) = (membership_decide_time IS NULL)),
  ADD CONSTRAINT drivers_membership_reason CHECK (membership_status IS DISTINCT FROM 'REJECTED' OR length(membership_reason) >= 3),
  -- A member is exactly a driver whose request that agency accepted.
  ADD CONSTRAINT drivers_member_accepted CHECK (
    (agency_id IS NOT NULL) = (membership_status IS NOT DISTINCT FROM 'ACCEPTED')
    AND (agency_id IS NULL OR agency_id = membership_agency_id));

-- An agency's requests, newest first (ListDrivers with membership_status).
CREATE INDEX drivers_membership ON kyc.drivers (membership_agency_id, membership_status, seq DESC) WHERE membership_agency_id IS NOT NULL;

-- Down Migration
DROP INDEX kyc.drivers_membership;
ALTER TABLE kyc.drivers
  DROP CONSTRAINT drivers_member_accepted,
  DROP CONSTRAINT drivers_membership_reason,
  DROP CONSTRAINT drivers_membership_decided,
  DROP CONSTRAINT drivers_membership_whole,
  DROP COLUMN membership_reason,
  DROP COLUMN membership_decide_time,
  DROP COLUMN membership_decided_by,
  DROP COLUMN membership_request_time,
  DROP COLUMN membership_status,
  DROP COLUMN membership_agency_id;
