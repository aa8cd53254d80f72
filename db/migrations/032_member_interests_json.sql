-- The interest profile is read and written whole with the member by every one of its events,
-- and never searched by its parts on that path. As jsonb, PostgreSQL parsed it into its binary
-- form on every write and printed it back on every read: a hundred numeric conversions each
-- way per event, for a profile of some hundred scores. As json it is kept as the text
-- circolod writes (checked, not converted). The table is rewritten once.
alter table members alter column interests type json using interests::json;
