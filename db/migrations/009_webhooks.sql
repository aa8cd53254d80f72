-- Webhooks: endpoints that receive outgoing events, in seq order per endpoint, with every
-- attempt recorded. A worker leases an endpoint (any instance; a lease that runs out lets another
-- take over), delivers after the endpoint's cursor, and moves the cursor only when an event is
-- delivered or given up (dead letter).
create table webhook_endpoints (
  id              text primary key,
  url             text not null,
  events          text[] not null,      -- event types; empty: all
  secret          text not null,        -- HMAC-SHA256 key of Circolo-Signature
  created_at      timestamptz not null,
  disabled_at     timestamptz,
  cursor          bigint not null,      -- outbox seq delivered or given up through
  failures        integer not null default 0,  -- failed attempts of the event at the head
  next_attempt_at timestamptz,          -- backoff after a failure
  lease_until     timestamptz,
  leased_by       text
);

create table webhook_deliveries (
  id               bigserial primary key,
  endpoint_id      text not null references webhook_endpoints (id),
  seq              bigint not null,     -- the outbox event
  event_type       text not null,
  status           text not null check (status in ('delivered', 'failing', 'dead', 'redrive')),
  attempts         integer not null default 0,
  last_status_code integer,
  last_error       text,
  last_latency_ms  integer,
  first_attempt_at timestamptz,
  last_attempt_at  timestamptz,
  unique (endpoint_id, seq)
);
create index webhook_deliveries_redrive on webhook_deliveries (endpoint_id, seq)
  where status = 'redrive';

create table webhook_attempts (
  delivery_id bigint not null references webhook_deliveries (id),
  at          timestamptz not null,
  status_code integer,                  -- null: no answer (refused, timed out)
  latency_ms  integer not null,
  error       text
);
create index webhook_attempts_delivery on webhook_attempts (delivery_id, at);
