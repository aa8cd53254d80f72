-- One index entry fewer per outgoing row (issue 24). Every row is inserted unpublished and then
-- updated once with its seq (never HOT: seq is indexed), so each index of the table is written up
-- to twice per row. The unique constraint on seq also indexed the NULL of every unpublished row:
-- a partial unique index leaves those out.
create unique index outbox_seq_published on outbox (seq) where seq is not null;
alter table outbox drop constraint outbox_seq_key;
