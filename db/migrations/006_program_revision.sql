-- Every change of the program state (an apply, a pause, a resume) bumps the revision, so that
-- instances reloading concurrently never put an older state back.
alter table program_state add column revision bigint not null default 0;
