-- Consent per purpose and channel. members.consents holds the member's explicit choices now
-- ({"marketing_email": true, "leaderboards": false}); a purpose not there has its default
-- (engine::consent). member_consents keeps each choice as given, when and by whom, for proof;
-- an erasure removes both with the rest of the member's personal data.
alter table members add column consents jsonb not null default '{}';
create table member_consents (
  id          bigserial primary key,
  member_id   text not null references members (id),
  purpose     text not null,
  granted     boolean not null,
  source      text not null,
  key_id      text,
  recorded_at timestamptz not null
);
create index member_consents_member on member_consents (member_id, id);
