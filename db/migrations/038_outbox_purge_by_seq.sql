-- The outbox's retention purge walks the published rows forward by seq (from where the last purge
-- ended, to the first row still inside the retention) instead of looking rows up by time, so the
-- index on `at` goes: one index entry fewer for every published row (issue 24). A release before
-- this one still purges, by a scan of the table.
drop index outbox_at;
