-- Every event rewrites the member row once (balance, counts, tier, tags, interest profile,
-- segments). The update is HOT (no new entries in the primary key or the segments' GIN index)
-- only when the new version fits on the row's page; with the interest profile a row is several
-- hundred bytes and full pages sent about half the updates elsewhere. Room is kept on each page
-- for new versions; pages written before this keep their rows until they move.
alter table members set (fillfactor = 85);
