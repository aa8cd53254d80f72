-- Gamification: what counted toward each member's challenges, their rounds and completions,
-- badges, and the points earned per calendar period that leaderboards rank.

-- Each member's standing in a challenge. `round` grows by one with every completion (and when
-- a new program version changes the goal: progress starts again); only the contributions of
-- the current round and goal count.
create table challenge_states (
  member_id    text not null references members (id),
  challenge    text not null,
  digest       text not null,                 -- the goal and what counts toward it
  round        int not null default 0,
  completions  int not null default 0,
  completed_at timestamptz,
  primary key (member_id, challenge)
);

-- One row per event (and source: counted by the challenge itself, or a `progress challenge`
-- action), dated by the event's occurred_at so late offline events land in their window.
create table challenge_contributions (
  member_id text not null references members (id),
  challenge text not null,
  round     int not null,
  digest    text not null,
  event_id  text not null,
  source    text not null check (source in ('event', 'explicit')),
  at        timestamptz not null,
  amount    bigint not null,
  key       text not null default '',
  primary key (member_id, challenge, round, event_id, source)
);
-- A refund finds the contributions of the purchase it refunds.
create index challenge_contributions_event on challenge_contributions (event_id);

-- Granted once per member: granting again changes nothing.
create table member_badges (
  member_id  text not null references members (id),
  badge      text not null,
  granted_at timestamptz not null,
  event_id   text,
  primary key (member_id, badge)
);

-- Points earned per member and calendar period of the program's time zone ('day:2026-11-22',
-- 'week:2026-11-16', 'month:2026-11', 'year:2026', 'all'), kept by the events that earn them.
create table leaderboard_points (
  period    text not null,
  member_id text not null references members (id),
  points    bigint not null check (points >= 0),
  primary key (period, member_id)
);
-- Top of a period, and how many members are above a given score, from the index alone.
create index leaderboard_points_rank on leaderboard_points (period, points desc, member_id);
