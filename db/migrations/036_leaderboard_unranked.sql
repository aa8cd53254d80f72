-- Leaderboard rows updated in place (issue 24). Every event adds its points to five rows (day,
-- week, month, year, all); the rank index (period, points desc, member_id) made each of those
-- updates a new row version with two new index entries. Boards are now ranked from a copy in
-- memory that each instance reads about once a second (the period's rows and a sort), so the
-- index goes, and room is kept on each page: an update that changes only the points stays on its
-- page with no index entry (HOT).
drop index leaderboard_points_rank;
alter table leaderboard_points set (fillfactor = 70);
