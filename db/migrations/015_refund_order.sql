-- A refund's order_id is its return receipt: like a purchase's receipt, it is recorded once per
-- channel and store, whatever the retries and idempotency keys of the touchpoint (a second one is
-- 409 duplicate_order and changes nothing).

-- Refunds recorded before this rule may repeat a receipt. They stay as they are (history is not
-- rewritten), marked so that the index below leaves them out: the first of each receipt counts.
alter table events add column order_repeated boolean not null default false;
update events e set order_repeated = true
  from (select id, row_number() over (partition by channel, coalesce(store, ''), order_id
                                       order by recorded_at, id) as n
          from events where type = 'refund' and order_id is not null) r
 where e.id = r.id and r.n > 1;

create unique index events_refund_order on events (channel, coalesce(store, ''), order_id)
  where type = 'refund' and order_id is not null and not order_repeated;
