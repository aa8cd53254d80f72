-- One customer on every touchpoint.
--
-- merged_ids: every member merged into this one (directly or through a chain), so that what
-- they earned through events counts toward this member's tier: the ledger is never rewritten, so
-- a merged member's earn entries keep its id, and tier windows sum entries of any of these ids.
alter table members add column merged_ids text[] not null default '{}';

with recursive chain (survivor, merged) as (
  select merged_into, id from members where merged_into is not null
  union
  select m.merged_into, c.merged from chain c join members m on m.id = c.survivor
  where m.merged_into is not null
)
update members s set merged_ids = array(
  select c.merged from chain c where c.survivor = s.id order by c.merged)
where exists (select 1 from chain c where c.survivor = s.id);

-- Link codes: a member's app shows one, a till types or scans it to identify the member with
-- certainty. Only a digest of the code is kept; each is used once, within minutes.
create table member_link_codes (
  code_digest  text primary key,
  member_id    text not null references members (id),
  created_at   timestamptz not null,
  expires_at   timestamptz not null,
  created_by   text not null,
  used_at      timestamptz,
  used_by      text,
  used_event_id text
);
create index member_link_codes_expiry on member_link_codes (expires_at);
