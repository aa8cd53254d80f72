#pragma once

#include <soci/soci.h>

#include <string>

#include "circolo/engine/sealed.hpp"
#include "server_process.hpp"

namespace circolo::test {

// The key of the servers the tests start (kTestSecretsKey).
inline engine::SecretsKey test_secrets_key() {
  return engine::SecretsKey::from_hex(kTestSecretsKey);
}

// A server secret as the servers hold it (server_secrets stores it sealed): for tests that sign
// member tokens by hand. Needs circolo::engine linked.
inline std::string read_server_secret(soci::session& sql, const std::string& name) {
  std::string stored;
  sql << "select secret from server_secrets where name = :name", soci::use(name),
      soci::into(stored);
  return test_secrets_key().open(stored, engine::server_secret_purpose(name));
}

}  // namespace circolo::test
