-- One event may add several contributions with the same source to one challenge (two
-- `progress challenge` actions, or two challenge_completed events of one incoming event counted
-- by a distinct goal): rows with different values stay apart; the same value adds up.
alter table challenge_contributions drop constraint challenge_contributions_pkey;
alter table challenge_contributions add primary key (member_id, challenge, round, event_id, source, key);
