#pragma once

#include <optional>
#include <string>

#include <soci/soci.h>

#include "circolo/db/batch.hpp"

#include "circolo/engine/clock.hpp"

namespace circolo::db::idempotency {

struct StoredResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

struct Claim {
  enum class Kind {
    fresh,     // first time: do the work, then store() in the same transaction
    replay,    // done before with the same request: answer `stored`
    conflict,  // the key was used for a different request
  };
  Kind kind = Kind::fresh;
  StoredResponse stored;
};

// Must run inside a transaction. Inserts a placeholder row for (scope, key); when another
// transaction holds the same key, PostgreSQL makes this wait until it commits or rolls back, so
// concurrent duplicates never both apply. Returns what the caller should do.
// As the transaction's first statement, sent with its BEGIN in one round trip (and with
// `prefetch`, whose rows go into `prefetched`: see Transaction::begin_with).
Claim claim(Transaction& tx, soci::session& sql, const std::string& scope, const std::string& key,
            const std::string& request_sha256, engine::TimePoint now,
            const Prefetch* prefetch = nullptr, std::vector<Row>* prefetched = nullptr);

// Completes the claimed row with the response to replay later, sent with the batch that ends
// the transaction.
void store(Batch& batch, const std::string& scope, const std::string& key,
           const StoredResponse& response);

// Deletes records created before `cutoff`; returns how many.
long long purge_before(soci::session& sql, engine::TimePoint cutoff);

}  // namespace circolo::db::idempotency
