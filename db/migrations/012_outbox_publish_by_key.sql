-- The publisher's update joined the due rows to the outbox in one statement. PL/pgSQL keeps the
-- plan of its first call, made while the table was empty: a nested loop that re-ran the due
-- rows' query for every row of the outbox, quadratic in the backlog (a publisher that fell
-- further behind the faster events came). Now the due rows' numbers are read first and each row
-- is updated by its key, a plan that stays an index lookup whatever the statistics say.
create or replace function circolo_publish_outbox(batch integer) returns bigint language plpgsql as $$
declare
  first bigint;
  ids bigint[];
  n bigint;
begin
  if not pg_try_advisory_xact_lock(7271001) then
    return -1;
  end if;
  select last_seq into first from outbox_state where id = 1 for update;
  select array_agg(write_no order by write_no) into ids
  from (select write_no from outbox where seq is null order by write_no limit batch) due;
  n := coalesce(cardinality(ids), 0);
  if n > 0 then
    update outbox o set seq = first + u.rn, published_at = clock_timestamp()
    from unnest(ids) with ordinality u(write_no, rn) where o.write_no = u.write_no;
    update outbox_state set last_seq = first + n where id = 1;
    perform pg_notify('circolo_outbox', (first + n)::text);
  end if;
  return n;
end $$;
