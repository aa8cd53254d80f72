-- One outbox row per event (issue 24). An event announced its effects as one row each (every
-- award's points.earned, tier.changed, challenge progress, badges, notifications: four on average
-- for a purchase), each row inserted and then updated by the publisher, both touching the
-- table's indexes. Now an event's outgoing events travel in one row: `events` holds them, in
-- order, as [{"type", "data"}, ...], and `type` and `data` hold the first of them. A row without
-- `events` is one outgoing event, as before (what other writers publish stays so).
--
-- The publisher numbers outgoing events, not rows: a row's `seq` is the seq of its LAST event,
-- its events being seq - n + 1 .. seq (n = the array's length), so `seq > after` still finds every
-- row holding an event after `after` through the same index. Readers expand the rows (the view
-- outbox_events, and the feed's own queries). An event's id is the row's id, with ".<position>"
-- for the events of a row that holds several.
--
-- Not a rolling upgrade: the release before reads a row of several events as its first event
-- only, so its instances are stopped before this one's start (docs/deploy.md).
alter table outbox add column events jsonb
  check (events is null or (jsonb_typeof(events) = 'array' and jsonb_array_length(events) > 1));

create or replace function circolo_publish_outbox(batch integer) returns bigint language plpgsql as $$
declare
  first bigint;
  ids bigint[];
  counts bigint[];
  n bigint;
  total bigint;
begin
  if not pg_try_advisory_xact_lock(7271001) then
    return -1;
  end if;
  select last_seq into first from outbox_state where id = 1 for update;
  select array_agg(write_no order by write_no), array_agg(k order by write_no) into ids, counts
  from (select write_no, coalesce(jsonb_array_length(events), 1) as k
        from outbox where seq is null order by write_no limit batch) due;
  n := coalesce(cardinality(ids), 0);
  if n > 0 then
    update outbox o set seq = first + u.upto, published_at = clock_timestamp()
    from (select w, sum(k) over (order by rn) as upto
          from unnest(ids, counts) with ordinality u(w, k, rn)) u
    where o.write_no = u.w;
    select sum(k) into total from unnest(counts) k;
    update outbox_state set last_seq = first + total where id = 1;
    perform pg_notify('circolo_outbox', (first + total)::text);
  end if;
  return n;
end $$;

-- Every outgoing event written, one row each (seq null until published), for operators' queries
-- and tests; the feed reads the table with the same expansion. Filter on row_seq (the row's, its
-- last event's seq: indexed) to read a range without expanding the whole table.
create view outbox_events as
select o.seq - e.n + e.i as seq,
       case when o.events is null then o.id else o.id || '.' || e.i end as id,
       e.type, o.member_id, o.at, e.data, o.write_no, o.seq as row_seq
from outbox o
cross join lateral (
  select x.value ->> 'type' as type, x.value -> 'data' as data, x.i,
         jsonb_array_length(o.events) as n
  from jsonb_array_elements(o.events) with ordinality x(value, i)
  where o.events is not null
  union all
  select o.type, o.data, 1, 1 where o.events is null
) e;
