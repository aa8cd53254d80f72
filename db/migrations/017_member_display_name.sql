-- What leaderboards and greetings show of a member (else its name, else "-"). Part of the
-- profile, changed with PATCH /v1/members/{id}; like the other profile fields it is not an
-- identifier and finds no one.
alter table members add column display_name text;
