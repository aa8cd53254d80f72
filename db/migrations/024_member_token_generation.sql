-- Member tokens carry the member's token generation when they were minted: revoking all of a
-- member's tokens moves it on (DELETE /v1/members/{id}/tokens), and older tokens are refused.
alter table members add column token_generation bigint not null default 0;
