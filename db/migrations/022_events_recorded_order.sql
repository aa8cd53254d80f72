-- Backtests read every event in recorded order. Without an index in that order, the cursor
-- sorted all keys before its first row: a burst of a second or two of database CPU at normal
-- priority (the backtest's own threads run idle), which slowed live events by a quarter. A
-- btree on (recorded_at, id) streams them in order at the backtest's pace; recorded_at only
-- grows, so inserts land on its last page. It serves reports' periods too: the BRIN goes.
create index events_recorded on events (recorded_at, id);
drop index events_recorded_brin;
