-- Settles an event's limit and budget counters in one call that fails (SQLSTATE CL001) when a
-- counter would pass its cap, so that it can run in a pipeline with COMMIT: the failure rolls
-- the whole event back, and the server decides it again with the counters locked first.
create function circolo_settle_counters(keys text[], increments bigint[], caps bigint[],
                                        absent text[]) returns void language plpgsql as $$
declare
  moved bigint;
begin
  with locked as materialized (
    select key from rule_counters where key = any(keys) order by key for update
  ), i as (
    select * from unnest(keys, increments, caps) as i(k, n, cap)
  ), upd as (
    update rule_counters c set value = c.value + i.n from locked l, i
    where c.key = l.key and c.key = i.k and c.value + i.n <= i.cap returning c.key
  ), ins as (
    insert into rule_counters (key, value)
    select k, n from i where k = any(absent) and n <= cap and k not in (select key from locked)
    order by k on conflict do nothing returning key
  )
  select (select count(*) from upd) + (select count(*) from ins) into moved;
  if moved <> cardinality(keys) then
    raise exception 'a limit or budget counter moved past this event''s decision'
      using errcode = 'CL001';
  end if;
end $$;
