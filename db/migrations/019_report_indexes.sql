-- Reports read events and lots by when they were recorded (campaign reports, backtests). Both
-- tables are appended to in time order, so a BRIN index (a few pages, next to nothing to keep up
-- on the event path) narrows a period's read to its blocks.
create index events_recorded_brin on events using brin (recorded_at);
create index point_lots_earned_brin on point_lots using brin (earned_at);
