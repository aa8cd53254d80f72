-- Erasure of a member's personal data (POST /v1/members/{id}/erase): when it happened. The row
-- stays, anonymous, so that its ledger, liabilities and reports keep their sums.
alter table members add column erased_at timestamptz;
