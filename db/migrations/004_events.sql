-- Touchpoint events (purchases, refunds, visits, sign-ups, custom events) and what the rules
-- keep count of.

-- What rules see of a member beyond its profile: the tier it holds, its purchase count and the
-- points it earned through events (net of refunds).
alter table members
  add column tier            text,
  add column purchases       bigint not null default 0,
  add column lifetime_points bigint not null default 0;

-- One row per accepted event, with the program version it was evaluated with and the effects it
-- had. A purchase also carries what its refunds took back so far.
create table events (
  id                text primary key,
  member_id         text not null references members (id),
  type              text not null,
  channel           text not null,
  store             text,
  order_id          text,
  occurred_at       timestamptz not null,
  recorded_at       timestamptz not null,
  program_version   bigint not null,
  api_key_id        text not null,
  total_minor       bigint,
  original_event_id text references events (id),
  points_awarded    bigint not null default 0,
  refunded_minor    bigint not null default 0,
  points_reversed   bigint not null default 0,
  body              jsonb not null,
  effects           jsonb not null default '[]'
);
create index events_member on events (member_id, occurred_at desc);
create index events_original on events (original_event_id) where original_event_id is not null;
-- A receipt is awarded once, whatever the retries and idempotency keys of the touchpoint.
create unique index events_purchase_order on events (channel, coalesce(store, ''), order_id)
  where type = 'purchase' and order_id is not null;

-- Limit firings ("limit:<campaign>/<rule>/...") and campaign budgets ("budget:<campaign>"): an
-- event locks the rows it may move, so counts stay exact under concurrency.
create table rule_counters (
  key   text primary key,
  value bigint not null default 0 check (value >= 0)
);

-- Tier qualification sums earned points by time.
create index ledger_entries_qualifying on ledger_entries (member_id, at)
  where kind in ('earn', 'reverse') and event_id is not null;
