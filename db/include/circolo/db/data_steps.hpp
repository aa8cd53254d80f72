#pragma once

#include <soci/soci.h>

// Steps over stored data that need the engine's rules, run once per database at start-up after
// the migrations (circolo_data_steps records each).
namespace circolo::db::data_steps {

struct IdentifierForms {
  bool ran = false;         // false: done before (by this or another instance)
  long long checked = 0;    // identifiers read
  long long rewritten = 0;  // stored in their normal form now
  long long invalid = 0;    // no longer valid (a card with letters): kept as they are
  long long clashes = 0;    // their normal form belongs to another member: kept as they are
};

// Every stored identifier in today's normal form (engine::normalize_identifier: Unicode NFKC,
// emails case-folded, cards digits only), once: identifiers stored by earlier versions were
// normalised for ASCII only, and lookups, which normalise what they are given, missed them.
// One transaction; a concurrent start waits for it and finds it done.
IdentifierForms normalise_identifiers(soci::session& sql);

}  // namespace circolo::db::data_steps
