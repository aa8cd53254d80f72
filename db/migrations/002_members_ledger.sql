-- Members, their identifiers on every touchpoint, the points ledger, the timeline and the outbox.

create table members (
  id             text primary key,
  name           text,
  email          text,
  phone          text,
  birthday       date,
  attributes     jsonb not null default '{}',
  tags           text[] not null default '{}',
  joined_at      timestamptz not null,
  -- Sum of the member's ledger entries (and of the remaining points of its lots).
  points_balance bigint not null default 0 check (points_balance >= 0),
  merged_into    text references members (id),
  merged_at      timestamptz
);

-- (type, value) is unique across members: one card, one email, one app login per person.
create table member_identifiers (
  type      text not null,
  value     text not null,
  member_id text not null references members (id),
  linked_at timestamptz not null,
  primary key (type, value)
);
create index member_identifiers_member on member_identifiers (member_id);

-- One lot per award: spendable after pending_until, gone at expires_at.
create table point_lots (
  id              bigserial primary key,
  member_id       text not null references members (id),
  points          bigint not null check (points > 0),
  remaining       bigint not null check (remaining >= 0 and remaining <= points),
  reversed        bigint not null default 0 check (reversed >= 0 and reversed <= points),
  earned_at       timestamptz not null,
  pending_until   timestamptz,
  expires_at      timestamptz,
  source_event_id text,
  campaign        text,
  rule            text
);
-- Wallet reads touch only lots that still hold points, however long the history.
create index point_lots_active on point_lots (member_id) where remaining > 0;
create index point_lots_due on point_lots (expires_at) where remaining > 0 and expires_at is not null;
create index point_lots_source on point_lots (source_event_id) where source_event_id is not null;

-- Every movement of points, append-only, with the balance after it.
create table ledger_entries (
  id            bigserial primary key,
  member_id     text not null references members (id),
  kind          text not null check (kind in ('earn', 'spend', 'expire', 'reverse', 'adjust', 'transfer', 'merge')),
  points        bigint not null,
  balance_after bigint not null check (balance_after >= 0),
  at            timestamptz not null,
  campaign      text,
  rule          text,
  event_id      text,
  lot_id        bigint,
  expires_at    timestamptz,
  reason        text,
  counterparty  text
);
create index ledger_entries_member on ledger_entries (member_id, id desc);

create function ledger_entries_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'ledger_entries is append-only';
end $$;
create trigger ledger_entries_append_only before update or delete on ledger_entries
  for each row execute function ledger_entries_append_only();

-- The member's journey: every event across channels with the effects it had.
create table member_timeline (
  id          bigserial primary key,
  member_id   text not null references members (id),
  type        text not null,
  channel     text,
  occurred_at timestamptz not null,
  recorded_at timestamptz not null,
  data        jsonb not null default '{}',
  effects     jsonb not null default '[]'
);
create index member_timeline_member on member_timeline (member_id, occurred_at desc, id desc);

-- Outgoing events, written in the same transaction as the effects they announce.
create table outbox (
  seq       bigserial primary key,
  id        text generated always as ('oe_' || seq::text) stored,
  type      text not null,
  member_id text,
  at        timestamptz not null,
  data      jsonb not null
);
create index outbox_member on outbox (member_id, seq);

-- Secrets the server instances share, made once (member token signing key).
create table server_secrets (
  name   text primary key,
  secret text not null
);
