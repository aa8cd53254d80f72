-- Whether a referral was refused when it was asked for (already_member, self_referral): such a
-- referral never started, which the report tells apart from one refused at completion (its cap
-- reached, or its referee found to be its referrer) even when both happened in one request.
alter table referrals add column refused_at_start boolean not null default false;
update referrals set refused_at_start = true where state = 'refused' and ended_at = started_at;
