-- Experiments: an event in scope of a campaign's experiment keeps the member's arm and what the
-- campaign gave or held back ({"<campaign>": {"arm": "control", ...}}). Null for every other
-- event: adding the column rewrites nothing. The experiment report finds a campaign's events
-- through the partial GIN index (events of no experiment are not in it).
alter table events add column experiments jsonb;
create index events_experiments on events using gin (experiments) where experiments is not null;
