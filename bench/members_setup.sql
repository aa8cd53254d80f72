-- Bench data for scripts/bench.sh, written straight into the tables (with consistent balances).
-- mem_bench_heavy: 100,000 spent-out ledger entries (50,000 earn/spend pairs) + 5 active lots.
-- mem_bench_light: 10 spent-out entries + the same 5 active lots.
-- mem_bench_s1..2000: 1,000,000 points each, for spend throughput on distinct members.
insert into members (id, joined_at) values ('mem_bench_heavy', now()), ('mem_bench_light', now());

insert into point_lots (member_id, points, remaining, earned_at)
select m, 10, 0, now() - interval '400 days'
from (values ('mem_bench_heavy', 50000), ('mem_bench_light', 5)) as t(m, n), generate_series(1, n);

insert into ledger_entries (member_id, kind, points, balance_after, at)
select m, case when g % 2 = 1 then 'earn' else 'spend' end, case when g % 2 = 1 then 10 else -10 end,
       case when g % 2 = 1 then 10 else 0 end, now() - interval '400 days' + g * interval '1 second'
from (values ('mem_bench_heavy', 100000), ('mem_bench_light', 10)) as t(m, n), generate_series(1, n) g;

insert into point_lots (member_id, points, remaining, earned_at, expires_at)
select m, 100, 100, now(), now() + k * interval '10 days'
from (values ('mem_bench_heavy'), ('mem_bench_light')) as t(m), generate_series(1, 5) k;

insert into ledger_entries (member_id, kind, points, balance_after, at, expires_at)
select m, 'earn', 100, 100 * k, now(), now() + k * interval '10 days'
from (values ('mem_bench_heavy'), ('mem_bench_light')) as t(m), generate_series(1, 5) k;

update members set points_balance = 500 where id in ('mem_bench_heavy', 'mem_bench_light');

insert into members (id, joined_at, points_balance)
select 'mem_bench_s' || g, now(), 1000000 from generate_series(1, 2000) g;
insert into point_lots (member_id, points, remaining, earned_at)
select 'mem_bench_s' || g, 1000000, 1000000, now() from generate_series(1, 2000) g;
insert into ledger_entries (member_id, kind, points, balance_after, at)
select 'mem_bench_s' || g, 'adjust', 1000000, 1000000, now() from generate_series(1, 2000) g;
analyze;
