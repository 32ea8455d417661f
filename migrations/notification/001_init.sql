-- Up Migration
-- NotificationService schema: the delivery outbox (every SMS, e-mail, push and in-app
-- message, with its delivery state), in-app notifications, and push devices.
-- All times are written by the service from its injectable clock, never now().

CREATE TABLE notification.deliveries (
  delivery_id          uuid PRIMARY KEY,
  channel              text NOT NULL CHECK (channel IN ('SMS','EMAIL','PUSH','IN_APP')),
  user_id              uuid,
  -- Phone (SMS) or address (e-mail); '' for push and in-app. Masked in every response.
  recipient            text NOT NULL DEFAULT '',
  subject              text NOT NULL DEFAULT '',
  -- Message content, kept only until the delivery ends (cleared on SENT / FAILED).
  body                 text NOT NULL DEFAULT '',
  html_body            text,
  data                 jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Push: device tokens still to deliver to (snapshot taken when queued).
  push_tokens          text[] NOT NULL DEFAULT '{}',
  status               text NOT NULL CHECK (status IN ('QUEUED','SENT','FAILED')),
  attempts             integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  last_error           text NOT NULL DEFAULT '',
  provider_message_id  text NOT NULL DEFAULT '',
  next_attempt_time    timestamptz,
  -- Lease of the worker delivering it; expired leases are claimed again.
  locked_until         timestamptz,
  -- Idempotency: the caller's scope (method + caller) and its idempotency key.
  idem_scope           text NOT NULL,
  idem_key             text NOT NULL,
  request_hash         text NOT NULL,
  trace_id             text NOT NULL DEFAULT '',
  create_time          timestamptz NOT NULL,
  sent_time            timestamptz,
  UNIQUE (idem_scope, idem_key),
  CHECK (status <> 'QUEUED' OR next_attempt_time IS NOT NULL)
);
CREATE INDEX deliveries_due ON notification.deliveries (next_attempt_time) WHERE status = 'QUEUED';
CREATE INDEX deliveries_newest ON notification.deliveries (create_time DESC, delivery_id DESC);
CREATE INDEX deliveries_user_newest ON notification.deliveries (user_id, create_time DESC, delivery_id DESC);
CREATE INDEX deliveries_trace ON notification.deliveries (trace_id);

CREATE TABLE notification.notifications (
  notification_id  uuid PRIMARY KEY,
  user_id          uuid NOT NULL,
  title            text NOT NULL,
  body             text NOT NULL,
  kind             text NOT NULL DEFAULT '',
  read_time        timestamptz,
  create_time      timestamptz NOT NULL,
  idem_scope       text NOT NULL,
  idem_key         text NOT NULL,
  request_hash     text NOT NULL,
  trace_id         text NOT NULL DEFAULT '',
  UNIQUE (idem_scope, idem_key)
);
CREATE INDEX notifications_user_newest ON notification.notifications (user_id, create_time DESC, notification_id DESC);
CREATE INDEX notifications_user_unread ON notification.notifications (user_id) WHERE read_time IS NULL;

CREATE TABLE notification.push_devices (
  device_id    uuid PRIMARY KEY,
  user_id      uuid NOT NULL,
  platform     text NOT NULL CHECK (platform IN ('ANDROID','IOS')),
  token        text NOT NULL UNIQUE,
  create_time  timestamptz NOT NULL,
  update_time  timestamptz NOT NULL
);
CREATE INDEX push_devices_user ON notification.push_devices (user_id);

-- Down Migration
DROP TABLE notification.push_devices;
DROP TABLE notification.notifications;
DROP TABLE notification.deliveries;
