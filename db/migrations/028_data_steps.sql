-- Steps over stored data that SQL alone cannot do (they need the engine's rules, such as Unicode
-- normalisation of identifiers), run once by circolod at start-up after the migrations; each is
-- recorded here when done, in the transaction that did it.
create table circolo_data_steps (
  name    text primary key,
  done_at timestamptz not null
);
