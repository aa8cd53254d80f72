-- The events benchmark's floor (scripts/bench.sh, after the events load): templates for
-- bench/event_replay.pgbench, taken from one recorded purchase that awarded two lots (fewer than
-- the 2.5 of the average event), so that PostgreSQL can replay an event's reads and writes
-- without Circolo. Fails (ON_ERROR_STOP) if the load recorded no such purchase.
drop table if exists replay_event, replay_lots, replay_entries, replay_outbox, replay_timeline,
  replay_contributions, replay_states, replay_periods, replay_counters, replay_response;
create table replay_event as
  select * from events e where type = 'purchase' and e.id like 'ev\_%'
    and (select count(*) from point_lots l where l.source_event_id = e.id) = 2
  order by recorded_at desc limit 1;
create table replay_lots as
  select l.* from point_lots l join replay_event e on l.source_event_id = e.id;
create table replay_entries as
  select l.* from ledger_entries l join replay_event e on l.event_id = e.id;
create table replay_outbox as
  select o.type, o.data from outbox o join replay_event e
    on o.member_id = e.member_id and o.at = e.recorded_at and o.data->>'event_id' = e.id;
create table replay_timeline as
  select t.* from member_timeline t join replay_event e
    on t.member_id = e.member_id and t.recorded_at = e.recorded_at and t.data->>'event_id' = e.id;
create table replay_contributions as
  select c.* from challenge_contributions c join replay_event e on c.event_id = e.id;
create table replay_states as
  select s.* from challenge_states s join replay_event e on s.member_id = e.member_id;
create table replay_periods as select distinct period from leaderboard_points;
-- The two busiest campaign budgets: hot rows, as in the load.
create table replay_counters as
  select key from rule_counters where key like 'budget:%' order by value desc limit 2;
create table replay_response as
  select jsonb_build_object('event_id', e.id, 'member_id', e.member_id, 'effects', e.effects,
    'points', jsonb_build_object('available', 100, 'pending', 0), 'tier', 'silver',
    'program_version', e.program_version)::text as body
  from replay_event e;
-- Members of the replay's own, mem_rp_1 to mem_rp_10000: what it writes never changes the
-- members the HTTP load sends events for.
insert into members (id, joined_at) select 'mem_rp_' || g, now() from generate_series(1, 10000) g
on conflict do nothing;
-- Publication numbers far above the server's, so that the two never meet.
drop sequence if exists replay_seq;
create sequence replay_seq;
select setval('replay_seq', greatest(1000000000000, (select max(seq) from outbox)));
-- Statistics for the templates: without them the replay's plans scan rule_counters.
analyze replay_event, replay_lots, replay_entries, replay_outbox, replay_timeline,
  replay_contributions, replay_states, replay_periods, replay_counters, replay_response;
do $$
begin
  if (select count(*) from replay_event) <> 1 or (select count(*) from replay_lots) <> 2
     or (select count(*) from replay_timeline) <> 1 then
    raise exception 'no recorded purchase with two awards to replay';
  end if;
end $$;
