-- Referrals: members bring members.
--
-- Every member may have one referral code (made when first asked for). A referral starts when a
-- request that enrols a member carries a code; refused ones are kept too, with their reason, so
-- that marketing sees the attempts (already_member, self_referral). A started referral completes
-- at the referee's first qualifying event (the program's `referral` declaration), or is refused
-- then (referrer_cap, self_referral, already_member after a merge) or expires; a completed one is
-- reversed when its qualifying purchase is refunded in full within the hold.
create table referral_codes (
  member_id  text primary key references members (id),
  code       text not null unique,
  created_at timestamptz not null
);

create table referrals (
  id                  text primary key,
  code                text not null,
  referrer_id         text not null references members (id),
  referee_id          text not null references members (id),
  channel             text not null,
  api_key_id          text not null,
  -- The enrolling event (none: POST /v1/members). Events are written when their transaction
  -- commits (after the referral's row): these references are checked then.
  event_id            text references events (id) deferrable initially deferred,
  state               text not null
    check (state in ('started', 'completed', 'reversed', 'refused', 'expired')),
  reason              text,
  started_at          timestamptz not null,
  ended_at            timestamptz,  -- completed, refused after starting, expired
  qualifying_event_id text references events (id) deferrable initially deferred,
  hold_until          timestamptz,
  referrer_event_id   text references events (id) deferrable initially deferred,
  referee_event_id    text references events (id) deferrable initially deferred,
  reversed_at         timestamptz
);
-- A member is referred once (refused attempts aside).
create unique index referrals_referee on referrals (referee_id) where state <> 'refused';
create index referrals_referrer on referrals (referrer_id, ended_at);
create index referrals_started on referrals (started_at);
create index referrals_qualifying on referrals (qualifying_event_id)
  where qualifying_event_id is not null;

-- The referral still open for a member (started, not yet completed): read with the member on
-- the event path, so that members never referred cost nothing more.
alter table members add column open_referral text;
