-- A refund finds its purchase's used-up lots through the purchase's ledger entries (the member's
-- ledger index), so the lots' index on their source event goes: one index entry fewer for every
-- lot an award writes (issue 24). A release before this one finds them by a scan of the lots.
drop index point_lots_source;
