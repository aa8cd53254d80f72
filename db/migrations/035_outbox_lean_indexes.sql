-- Fewer index entries per outgoing row (issue 24). Every row is inserted unpublished and then
-- updated once with its seq (never HOT: seq is indexed), so each index of the table is written up
-- to twice per row. The unique constraint on seq also indexed the NULL of every unpublished row:
-- a partial unique index leaves those out. The retention job's `at < cutoff` needs no B-tree: rows
-- come in time order, and a BRIN index (a few pages for the whole table, no entry per row) finds
-- the old ones.
create unique index outbox_seq_published on outbox (seq) where seq is not null;
alter table outbox drop constraint outbox_seq_key;
drop index outbox_at;
create index outbox_at_brin on outbox using brin (at);
