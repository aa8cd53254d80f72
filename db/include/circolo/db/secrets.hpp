#pragma once

#include <string>

#include <soci/soci.h>

#include "circolo/engine/sealed.hpp"

// Secrets stored in the database, sealed (engine::SecretsKey) under the key of the server's
// configuration: the shared server secrets (server_secrets) and the webhook secrets.
namespace circolo::db::secrets {

// The shared secret named `name`, opened: made from `fresh` (sealed) by the first instance that
// asks. Throws engine::SealError when the stored value does not open with `key`.
std::string server_secret(soci::session& sql, const std::string& name, const std::string& fresh,
                          const engine::SecretsKey& key);

struct Sealed {
  long long server_secrets = 0, webhooks = 0;
};
// Seals the values that databases made before secrets were sealed hold in plaintext (anything
// without the "v1:" prefix). Call inside a transaction; rows are locked, so instances starting
// together seal each value once.
Sealed seal_plaintext(soci::session& sql, const engine::SecretsKey& key);

}  // namespace circolo::db::secrets
