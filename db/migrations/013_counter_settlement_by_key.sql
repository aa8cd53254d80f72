-- The settlement updated the counters in one statement joining them to the event's keys.
-- PL/pgSQL keeps a generic plan, and for a join with an array of unknown length the planner
-- chose a hash join over a sequential scan of rule_counters: every event read the whole table,
-- which grows by a row per member, rule and day of a `limit ... per member per day`. Now each
-- counter is moved by its key (an index lookup whatever the statistics say), in key order
-- (bytes, as every locker of counters sorts them) so that two events on the same hot budget
-- rows never deadlock. Same contract: all or nothing, SQLSTATE CL001 when a counter would pass
-- its cap or appeared since it was read as absent.
create or replace function circolo_settle_counters(keys text[], increments bigint[],
                                                   caps bigint[], absent text[])
returns void language plpgsql as $$
declare
  c record;
begin
  for c in select u.k, u.n, u.cap from unnest(keys, increments, caps) as u(k, n, cap) order by u.k collate "C"
  loop
    update rule_counters set value = value + c.n where key = c.k and value + c.n <= c.cap;
    if found then
      continue;
    end if;
    if c.k = any(absent) and c.n <= c.cap then
      insert into rule_counters (key, value) values (c.k, c.n) on conflict do nothing;
      if found then
        continue;
      end if;
    end if;
    raise exception 'a limit or budget counter moved past this event''s decision'
      using errcode = 'CL001';
  end loop;
end $$;
