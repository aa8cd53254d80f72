-- The interest profile moves to a json column. Every event reads the profile with the member
-- and writes it back whole, and nothing on that path reads its parts: as jsonb PostgreSQL
-- converted its scores to numerics and back on every event (about 3% of the event path in
-- bench/README.md). Expand, then contract: this release reads interest_profile, or interests
-- when a member has no new profile yet, and clears interests when it writes the new one; a
-- previous release still running beside it keeps working on interests (what it learns for a
-- member already moved is dropped: a profile is an estimate, rebuilt by the next events). A
-- later release drops the interests column and the trigger below.
alter table members add column interest_profile json;

-- A previous release withdrawing consent, erasing or merging a member clears only interests:
-- the moved profile goes too. Only updates that leave a profile without a reason to keep it
-- call the function, so the event path pays for the condition alone.
create function members_forget_interest_profile() returns trigger language plpgsql as $$
begin
  new.interest_profile := null;
  return new;
end $$;
create trigger members_forget_interest_profile before update on members for each row
  when (new.interest_profile is not null and ((new.consents ->> 'profiling') is distinct from
        'true' or new.erased_at is not null or new.merged_into is not null))
  execute function members_forget_interest_profile();
