-- Leaderboard points behind the event (issue 24). Every event updated five leaderboard_points rows
-- (day, week, month, year, all), none of them HOT (the points are in the rank index): ten index
-- entries and five row versions per purchase, in the event's transaction. Now the event appends
-- one row here, on a table without indexes, and circolo_fold_leaderboards() moves what is pending
-- into leaderboard_points in one statement: every second (a job of each instance, one at a time),
-- before a leaderboard is read (read-your-writes for the member asking), before a merge.
create table leaderboard_pending (
  id        bigint generated always as identity,  -- the order points were added in; no index
  member_id text not null,
  periods   text[] not null,
  points    bigint not null                        -- negative for a refund's reversal
);

-- Folds the pending points in (all of them, in their order) and returns how many rows it took.
-- A period's points never go below zero (a refund of points earned in an earlier period), which
-- applied one by one is points := max(points + d, 0); a run of such steps is
-- points := max(points + total, total - least prefix sum), so the run folds in one update.
-- Serialised by an advisory lock: two folds never take the same rows (the second waits, then finds
-- them gone) nor insert the same new row.
create function circolo_fold_leaderboards() returns bigint language plpgsql as $$
declare
  n bigint;
begin
  perform pg_advisory_xact_lock(7271002);
  with gone as (
    delete from leaderboard_pending returning id, member_id, periods, points
  ), deltas as (
    select p as period, g.member_id, g.id, g.points from gone g, unnest(g.periods) p
  ), runs as (
    select period, member_id, points,
           sum(points) over (partition by period, member_id order by id) as prefix
    from deltas
  ), folded as (
    select period, member_id, sum(points) as total, sum(points) - min(prefix) as floor
    from runs group by period, member_id
  ), updated as (
    update leaderboard_points l set points = greatest(l.points + f.total, f.floor)
    from folded f where l.period = f.period and l.member_id = f.member_id
    returning l.period, l.member_id
  ), inserted as (
    insert into leaderboard_points (period, member_id, points)
    select f.period, f.member_id, greatest(f.total, f.floor) from folded f
    where not exists (select 1 from updated u where u.period = f.period and u.member_id = f.member_id)
    returning 1
  )
  select (select count(*) from gone) into n;
  return n;
end $$;
