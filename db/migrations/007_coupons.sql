-- Coupons and rewards: issued codes with the terms they were issued with, reservations (holds)
-- for app checkouts, redemptions (rolled back at most once) and reward claims.

-- What codes promise, shared by every code issued with the same terms: a later program version
-- changes the template for new codes, never what an issued code is worth.
create table coupon_terms (
  id     bigserial primary key,
  coupon text not null,                 -- the template's id in the program
  name   text not null,
  digits smallint not null,             -- minor units of the amounts below
  terms  jsonb not null,                -- amount_minor | percent_e4 (+ max_minor), min_total_minor, channels
  unique (coupon, name, digits, terms)
);
-- Terms are never changed or removed: codes refer to them without a per-row foreign-key check
-- (a bulk generation stores a million codes; the check would double its time).
create function circolo_coupon_terms_are_fixed() returns trigger language plpgsql as $$
begin
  raise exception 'coupon terms are never changed or removed';
end $$;
create trigger coupon_terms_fixed before update or delete or truncate on coupon_terms
  for each statement execute function circolo_coupon_terms_are_fixed();

-- One row per code. member_id null: unassigned (printed on a flyer) until its first redemption.
create table coupon_codes (
  -- The code's random symbols as a number (engine::coupons::code_number): an integer key makes
  -- a million-code generation several times faster to index than the text would.
  id                bigint primary key,
  code              text not null,      -- canonical: upper case, as made
  terms_id          bigint not null,    -- coupon_terms (id), fixed rows: see above
  member_id         text references members (id),
  issued_at         timestamptz not null,
  expires_at        timestamptz not null,
  uses_allowed      integer not null check (uses_allowed > 0),
  uses              integer not null default 0,
  source            text not null,      -- rule, reward, admin
  source_id         text,               -- the event, the claim, the generation
  expiring_notified boolean not null default false,
  check (uses >= 0 and uses <= uses_allowed)
);
create index coupon_codes_member on coupon_codes (member_id, expires_at) where member_id is not null;
create index coupon_codes_expiring on coupon_codes (expires_at)
  where not expiring_notified and member_id is not null;

-- A use held for an app checkout. Open while ended_at is null and expires_at is ahead: an
-- expired hold releases its use by itself, nothing has to run.
create table coupon_holds (
  id            text primary key,
  code_id       bigint not null references coupon_codes (id),
  code          text not null,
  member_id     text not null references members (id),
  channel       text not null,
  created_at    timestamptz not null,
  expires_at    timestamptz not null,
  ended_at      timestamptz,            -- consumed by a redemption
  redemption_id text
);
create index coupon_holds_open on coupon_holds (code_id) where ended_at is null;

create table coupon_redemptions (
  id             text primary key,
  code_id        bigint not null references coupon_codes (id),
  code           text not null,
  member_id      text not null references members (id),
  channel        text not null,
  order_id       text,
  event_id       text,
  total_minor    bigint not null,
  discount_minor bigint not null,
  hold_id        text,
  redeemed_at    timestamptz not null,
  rolled_back_at timestamptz
);
create index coupon_redemptions_code on coupon_redemptions (code_id);
create index coupon_redemptions_member on coupon_redemptions (member_id, redeemed_at desc);

-- A reward bought with points: the points spent and the code issued in one transaction. Stock
-- is counted in rule_counters ('stock:<reward>'), locked by every claim.
create table reward_claims (
  id         text primary key,
  reward     text not null,
  member_id  text not null references members (id),
  points     bigint not null,
  code_id    bigint not null references coupon_codes (id),
  code       text not null,
  claimed_at timestamptz not null
);
create index reward_claims_member on reward_claims (member_id, claimed_at desc);
