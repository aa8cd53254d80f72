-- Backtests: a draft program replayed on the recorded events of a period, as a background job.
-- The row is the job's record: its state, and when done its result (kept 30 days).
create table backtests (
  id           text primary key,
  status       text not null check (status in ('running', 'done', 'failed', 'cancelled')),
  source       text not null,
  period_from  timestamptz not null,
  period_until timestamptz not null,
  created_at   timestamptz not null,
  created_by   text not null,
  finished_at  timestamptz,
  events_total bigint,
  events_done  bigint not null default 0,
  result       jsonb,
  error        text
);
create index backtests_created on backtests (created_at);
