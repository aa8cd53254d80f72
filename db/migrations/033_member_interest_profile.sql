-- The interest profile moves to a json column. Every event reads the profile with the member
-- and writes it back whole, and nothing on that path reads its parts: as jsonb PostgreSQL
-- converted its scores to numerics and back on every event (about 3% of the event path in
-- bench/README.md). Expand, then contract: this release reads interest_profile, or interests
-- when a member has no new profile yet, and clears interests when it writes the new one; a
-- previous release still running beside it keeps working on interests (what it learns for a
-- member already moved is dropped: a profile is an estimate, rebuilt by the next events). A
-- later release drops the interests column.
alter table members add column interest_profile json;
