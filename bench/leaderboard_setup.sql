-- Bench data for the leaderboard (scripts/bench.sh, BENCH_ONLY=leaderboard): 100,000 members
-- with points in every period of now (Europe/Rome, the demo program's zone), scores drawn from
-- 0..49,999 so that many members tie, as straight table rows.
insert into members (id, name, joined_at)
select 'mem_lb_' || g, 'Member ' || g, now() from generate_series(1, 100000) g;

with periods(p) as (
  select 'day:' || to_char(now() at time zone 'Europe/Rome', 'YYYY-MM-DD')
  union all select 'week:' || to_char(date_trunc('week', now() at time zone 'Europe/Rome'), 'YYYY-MM-DD')
  union all select 'month:' || to_char(now() at time zone 'Europe/Rome', 'YYYY-MM')
  union all select 'year:' || to_char(now() at time zone 'Europe/Rome', 'YYYY')
  union all select 'all')
insert into leaderboard_points (period, member_id, points)
select p, 'mem_lb_' || g, (hashtext(p || g) & 65535) % 50000
from periods, generate_series(1, 100000) g;
