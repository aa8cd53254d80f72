-- Segments (program `segment` declarations): the ones a member is in, kept with the member
-- (sorted ids; dynamic ones follow their condition, static ones come from uploads). The GIN
-- index answers a segment's members and counts.
alter table members add column segments text[] not null default '{}';
create index members_segments on members using gin (segments);

-- What the members' memberships were last evaluated against: a segment whose digest (its
-- condition, or static) differs from the program's is evaluated again for everyone; a segment
-- no longer declared is taken from everyone.
create table segment_definitions (
  id           text primary key,
  digest       text not null,
  evaluated_at timestamptz not null
);

-- Runs of the segment job, with their progress (the CLI shows it after a program change).
create table segment_runs (
  id          bigserial primary key,
  reason      text not null check (reason in ('program', 'schedule')),
  segments    text[] not null,
  started_at  timestamptz not null,
  finished_at timestamptz,
  total       bigint not null default 0,
  done        bigint not null default 0,
  entered     bigint not null default 0,
  "left"      bigint not null default 0
);

-- One instance runs the job at a time: it holds the lease while it works.
create table segment_job_lease (
  id          int primary key check (id = 1),
  holder      text,
  lease_until timestamptz
);
insert into segment_job_lease (id) values (1);
