-- The ledger stays append-only, with one exception: an erasure takes a staff note out (the
-- free text of an adjustment or a spend may name the customer). Amounts, kinds, times and
-- balances never change; a note can only become null.
create or replace function ledger_entries_append_only() returns trigger language plpgsql as $$
begin
  if tg_op = 'UPDATE' and new.reason is null
     and (to_jsonb(new) - 'reason') = (to_jsonb(old) - 'reason') then
    return new;
  end if;
  raise exception 'ledger_entries is append-only';
end
$$;
