-- Per-member limit counters on the member's row (issue 24). A "limit N per member [per period]"
-- was a rule_counters row per member, rule and period: read in a round trip of its own after the
-- rules ran once, then locked and updated by the settlement at commit. The member's row is read
-- and locked by every event of the member already and rewritten by it, so its counts live there:
-- known before the rules run, exact under the same lock, written by the statement that updates
-- the member. The keys are the counters' ("limit:<campaign>/<rule>/member:<id>/<period>");
-- campaign-wide limits and budgets stay in rule_counters. The event path forgets the periods no
-- event can be dated in any more (older than the offline window).
alter table members add column limit_counts jsonb not null default '{}';

-- The counts so far move over: the member id sits between "/member:" and the period (the last
-- segment; campaign and rule ids hold no "/").
create temporary table moved_limit_counts on commit drop as
  select key, value, substring(key from '/member:(.*)/[^/]*$') as member_id
  from rule_counters where key like 'limit:%/member:%';
update members m set limit_counts = c.counts
  from (select member_id, jsonb_object_agg(key, value) as counts from moved_limit_counts
        group by member_id) c
  where m.id = c.member_id;
delete from rule_counters r using moved_limit_counts c, members m
  where r.key = c.key and m.id = c.member_id;
