-- The audit trail: every staff and admin action that changes member data or configuration, with
-- who (key id, or member:<id> for a member's own token), when, from where and what. Written in
-- the transaction of the action it records; never changed or removed (a trigger refuses it).
create table audit_log (
  id      bigserial primary key,
  at      timestamptz not null,
  actor   text not null,
  role    text not null,
  address text,
  action  text not null,
  target  text,
  detail  jsonb not null default '{}'
);
create index audit_log_target on audit_log (target, id);
create index audit_log_actor on audit_log (actor, id);

create function audit_log_is_append_only() returns trigger language plpgsql as $$
begin
  raise exception 'audit_log is append-only' using errcode = 'CL002';
end
$$;
create trigger audit_log_append_only before update or delete on audit_log
  for each row execute function audit_log_is_append_only();
create trigger audit_log_no_truncate before truncate on audit_log
  for each statement execute function audit_log_is_append_only();
