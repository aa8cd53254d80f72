-- A member's interest profile (engine::interests, as db::interests stores it): kept with the
-- member, updated in the transaction of each of its events, for members who agreed to profiling.
-- Null: none (never profiled, consent withdrawn, or erased).
alter table members add column interests jsonb;
