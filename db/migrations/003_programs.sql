-- Program versions: every apply stores the whole source, immutable, and activates it.
create table program_versions (
  version    bigserial primary key,
  source     text not null,
  created_by text not null,
  created_at timestamptz not null
);

-- Which version is active (one row), and campaigns paused by an admin.
create table program_state (
  singleton      boolean primary key default true check (singleton),
  active_version bigint references program_versions (version)
);
insert into program_state (singleton, active_version) values (true, null);

create table campaign_pauses (
  campaign_id text primary key,
  paused_at   timestamptz not null,
  paused_by   text not null
);
