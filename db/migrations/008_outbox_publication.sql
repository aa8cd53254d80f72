-- Outgoing events in publication order. A row's write number (its bigserial) is taken before
-- its transaction commits, so write numbers can become visible out of order: a reader paging
-- by them could step over a row that commits late. Rows are therefore published after commit:
-- one publisher at a time (an advisory lock) gives the committed, unpublished rows the next
-- sequence numbers in one transaction, so a reader that sees seq N has seen every seq below N.
alter table outbox rename column seq to write_no;
alter table outbox add column seq bigint unique;  -- publication order; null until published
alter table outbox add column published_at timestamptz;
create index outbox_unpublished on outbox (write_no) where seq is null;
drop index outbox_member;
create index outbox_member_seq on outbox (member_id, seq) where seq is not null;
create index outbox_at on outbox (at) where seq is not null;

create table outbox_state (
  id             integer primary key check (id = 1),
  last_seq       bigint not null,           -- the highest seq given
  purged_through bigint not null default 0  -- events up to this seq were removed (retention)
);
insert into outbox_state (id, last_seq) values (1, 0);

-- What was written before this migration is published now, in write order.
update outbox set seq = write_no, published_at = now();
update outbox_state set last_seq = coalesce((select max(seq) from outbox), 0);

-- Publishes up to `batch` committed rows; returns how many, or -1 when another publisher holds
-- the lock (try again shortly). Notifies 'circolo_outbox' with the new last seq.
create function circolo_publish_outbox(batch integer) returns bigint language plpgsql as $$
declare
  first bigint;
  n bigint;
begin
  if not pg_try_advisory_xact_lock(7271001) then
    return -1;
  end if;
  select last_seq into first from outbox_state where id = 1 for update;
  with due as (
    select write_no, row_number() over (order by write_no) as rn
    from outbox where seq is null order by write_no limit batch
  )
  update outbox o set seq = first + due.rn, published_at = clock_timestamp()
  from due where o.write_no = due.write_no;
  get diagnostics n = row_count;
  if n > 0 then
    update outbox_state set last_seq = first + n where id = 1;
    perform pg_notify('circolo_outbox', (first + n)::text);
  end if;
  return n;
end $$;
