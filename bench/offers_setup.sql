-- Bench data for the offers load of scripts/bench.sh (BENCH_ONLY=offers): 100,000 members who
-- agreed to profiling, written straight into the tables, with the demo program applied:
--   an interest profile of 3 to 6 of 40 categories, from one of 8 taste groups (so that the
--     recommendation model has structure to learn), as engine::interests stores it;
--   one lot of 0 to 399 available points (the demo's free coffee costs 300: some can claim it,
--     some are close, most are not);
--   two usable codes each (a 5.00-off code with a 25.00 minimum, a store-only free coffee).
insert into members (id, joined_at, points_balance, consents, interest_profile)
select 'mem_off_' || g, now() - interval '200 days', g % 400, '{"profiling": true}',
       jsonb_build_object(
         'as_of', (extract(epoch from now()) * 1000000)::bigint,
         'categories', (select jsonb_object_agg('cat' || ((g % 8) * 5 + k) % 40, 1.0 / k)
                        from generate_series(1, 3 + g % 4) k),
         'brands', '{}'::jsonb, 'products', '{}'::jsonb,
         'channels', jsonb_build_object('store', 1.0), 'stores', '{}'::jsonb,
         'last_purchase', (extract(epoch from now() - interval '3 days') * 1000000)::bigint,
         'spend', '{}'::jsonb)::json
from generate_series(1, 100000) g;

insert into point_lots (member_id, points, remaining, earned_at)
select 'mem_off_' || g, g % 400, g % 400, now() - interval '10 days'
from generate_series(1, 100000) g where g % 400 > 0;

insert into coupon_terms (coupon, name, digits, terms) values
  ('WELCOME5', '5 euro off your next purchase', 2, '{"amount_minor": 500, "min_total_minor": 2500}'),
  ('COFFEE', 'A free coffee', 2, '{"amount_minor": 250, "channels": ["store"]}')
on conflict do nothing;

-- Code ids far above what engine::coupons::code_number gives real codes (below 2^49).
insert into coupon_codes (id, code, terms_id, member_id, issued_at, expires_at, uses_allowed,
                          source)
select (1::bigint << 52) + g * 4 + t.n, 'BENCH-' || g || '-' || t.n, t.id, 'mem_off_' || g,
       now() - interval '1 day', now() + interval '20 days' + g * interval '1 second', 1, 'admin'
from generate_series(1, 100000) g,
     (select id, row_number() over (order by coupon) - 1 as n from coupon_terms
      where coupon in ('WELCOME5', 'COFFEE') and terms ? 'amount_minor'
        and (terms ->> 'amount_minor') in ('500', '250')) t;
analyze;
