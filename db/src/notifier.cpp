#include "circolo/db/notifier.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <soci/soci.h>

#include "circolo/db/connection_pool.hpp"
#include "circolo/db/query.hpp"

namespace circolo::db {

namespace {

const std::string kNotify = "select pg_notify($1, $2)";

// Sleeps up to `total` in short steps, returning early when stopping.
void pause_for(std::chrono::milliseconds total, const std::atomic<bool>& stopping) {
  const auto until = std::chrono::steady_clock::now() + total;
  while (!stopping && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

}  // namespace

Notifier::Notifier(Options options, OnNotify on_notify, OnConnected on_connected)
    : options_(std::move(options)),
      on_notify_(std::move(on_notify)),
      on_connected_(std::move(on_connected)) {
  options_.dsn = to_keyword_conninfo(options_.dsn);
  thread_ = std::thread([this] { run(); });
}

Notifier::~Notifier() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void Notifier::run() {
  while (!stopping_) {
    PGconn* conn = PQconnectdb(options_.dsn.c_str());
    bool ok = PQstatus(conn) == CONNECTION_OK;
    for (const auto& channel : options_.channels) {
      if (!ok) break;
      // Channel names are ours (constants), quoted as identifiers all the same.
      char* quoted = PQescapeIdentifier(conn, channel.c_str(), channel.size());
      PGresult* r = PQexec(conn, ("LISTEN " + std::string(quoted)).c_str());
      PQfreemem(quoted);
      ok = PQresultStatus(r) == PGRES_COMMAND_OK;
      PQclear(r);
    }
    if (ok) {
      connected_ = true;
      if (on_connected_) on_connected_();
      while (!stopping_) {
        pollfd fd{PQsocket(conn), POLLIN, 0};
        const int ready = ::poll(&fd, 1, 100);  // wakes up to notice a stop request
        if (ready < 0) continue;
        if (ready > 0 && PQconsumeInput(conn) == 0) break;  // the connection broke
        while (PGnotify* n = PQnotifies(conn)) {
          if (on_notify_) on_notify_(n->relname, n->extra ? n->extra : "");
          PQfreemem(n);
        }
        if (PQstatus(conn) != CONNECTION_OK) break;
      }
      connected_ = false;
    }
    PQfinish(conn);
    if (!stopping_) pause_for(options_.reconnect_delay, stopping_);
  }
}

void notify(soci::session& sql, const std::string& channel, const std::string& payload) {
  fetch(sql, kNotify, {channel, payload});
}

}  // namespace circolo::db
