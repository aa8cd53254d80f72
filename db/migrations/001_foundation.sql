-- API keys: only a SHA-256 of the secret is stored; the secret is shown once at creation.
create table api_keys (
  id            text primary key,
  role          text not null check (role in ('admin', 'touchpoint')),
  channel       text,
  name          text not null,
  secret_sha256 text not null unique,
  created_at    timestamptz not null,
  revoked_at    timestamptz,
  constraint touchpoint_has_channel check (role <> 'touchpoint' or channel is not null)
);

-- Idempotency records: written in the same transaction as the effects of the request they
-- answer, so a response is stored exactly when its effects are. The primary key makes a
-- concurrent duplicate wait for the original and then replay it.
create table idempotency_keys (
  api_key_id            text not null,
  idempotency_key       text not null,
  request_sha256        text not null,
  status_code           integer not null,
  response_content_type text not null,
  response_body         text not null,
  created_at            timestamptz not null,
  primary key (api_key_id, idempotency_key)
);
create index idempotency_keys_created_at on idempotency_keys (created_at);
