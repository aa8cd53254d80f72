#include "circolo/db/connection_pool.hpp"
#include "circolo/db/batch.hpp"
#include "circolo/db/query.hpp"

#include <libpq-fe.h>
#include <soci/postgresql/soci-postgresql.h>

#include <charconv>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <unordered_map>

namespace circolo::db {

namespace {

PGconn* native(soci::session& sql) {
  // libsoci exports no typeinfo for its backends, so check the name instead of dynamic_cast.
  if (sql.get_backend() == nullptr || sql.get_backend_name() != "postgresql") {
    throw std::logic_error("circolo::db needs SOCI's PostgreSQL backend");
  }
  return static_cast<soci::postgresql_session_backend*>(sql.get_backend())->conn_;
}

// Turns a failed libpq result into the soci_error SOCI would have thrown (and frees it).
void throw_unless_ok(PGresult* result) {
  const auto status = PQresultStatus(result);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return;
  std::string message = PQresultErrorMessage(result);
  const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
  std::string sqlstate = state ? state : "";
  PQclear(result);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  throw SqlError(message, std::move(sqlstate));
}

}  // namespace

bool is_retryable(const std::exception& e) {
  if (dynamic_cast<const RetryTransaction*>(&e)) return true;
  if (const auto* sql = dynamic_cast<const SqlError*>(&e))
    return sql->sqlstate() == "40001" || sql->sqlstate() == "40P01" ||
           sql->sqlstate() == kCounterMovedState;
  // Statements run by SOCI itself: its backend error type has no exported typeinfo.
  const std::string_view what = e.what();
  return what.find("deadlock detected") != std::string_view::npos ||
         what.find("could not serialize access") != std::string_view::npos;
}

std::string to_keyword_conninfo(const std::string& dsn) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(dsn.c_str(), &error);
  if (options == nullptr) {
    std::string message = error != nullptr ? error : "invalid connection string";
    if (error != nullptr) PQfreemem(error);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    throw soci::soci_error("invalid database URL: " + message);
  }
  std::string out;
  for (auto* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    std::string value;
    for (const char* c = o->val; *c != '\0'; ++c) {
      if (*c == '\\' || *c == '\'') value.push_back('\\');
      value.push_back(*c);
    }
    if (!out.empty()) out.push_back(' ');
    out += std::string(o->keyword) + "='" + value + "'";
  }
  PQconninfoFree(options);
  return out;
}

bool connection_ok(soci::session& sql) {
  PGconn* conn = native(sql);
  // Also refused: a connection left in pipeline mode or inside a transaction by a failure.
  return conn != nullptr && PQstatus(conn) == CONNECTION_OK &&
         PQpipelineStatus(conn) == PQ_PIPELINE_OFF && PQtransactionStatus(conn) == PQTRANS_IDLE;
}

void execute_script(soci::session& sql, const std::string& script) {
  PGresult* result = PQexec(native(sql), script.c_str());
  throw_unless_ok(result);
  PQclear(result);
}

namespace {

// Server-side prepared statements of `fetch`, per connection: a query is parsed and planned once
// per connection, not on every call. A connection is known by its PGconn and its backend's
// process id (a replaced connection is a new backend); names are never reused, so forgetting the
// table (when it grows too big) only costs preparing again.
struct PreparedStatements {
  std::mutex mutex;
  std::map<std::pair<const PGconn*, int>, std::unordered_map<std::string, std::string>> names;
  std::uint64_t next = 0;
};

PreparedStatements& prepared() {
  static PreparedStatements statements;
  return statements;
}

constexpr std::size_t kMaxPreparedConnections = 4096;

std::vector<Row> read_rows(const PGresult* result) {
  const int rows = PQntuples(result), columns = PQnfields(result);
  std::vector<Row> out(static_cast<std::size_t>(rows));
  for (int r = 0; r < rows; ++r) {
    auto& row = out[static_cast<std::size_t>(r)];
    row.reserve(static_cast<std::size_t>(columns));
    for (int c = 0; c < columns; ++c) {
      if (PQgetisnull(result, r, c))
        row.emplace_back(std::nullopt);
      else
        row.emplace_back(std::string(PQgetvalue(result, r, c),
                                     static_cast<std::size_t>(PQgetlength(result, r, c))));
    }
  }
  return out;
}

std::string prepared_name(PGconn* conn, const std::string& query, int parameters) {
  auto& p = prepared();
  const std::pair<const PGconn*, int> id{conn, PQbackendPID(conn)};
  std::string name;
  {
    std::lock_guard lock(p.mutex);
    auto& names = p.names[id];
    if (auto it = names.find(query); it != names.end()) return it->second;
    name = "circolo_" + std::to_string(++p.next);
  }
  throw_unless_ok(PQprepare(conn, name.c_str(), query.c_str(), parameters, nullptr));
  std::lock_guard lock(p.mutex);
  if (p.names.size() > kMaxPreparedConnections) p.names.clear();
  p.names[id][query] = name;
  return name;
}

// What a pipeline answered: the rows of the command asked for, and the first failure.
struct PipelineOutcome {
  std::vector<Row> rows;
  std::vector<Row> more_rows;  // of a second command, when asked for
  std::optional<SqlError> failure;
  std::size_t failed_at = 0;
};

// Reads the results of `commands` commands and the sync marker that follows them. Each command's
// results end with a NULL; a lost connection answers NULL forever, so it ends the reading too.
PipelineOutcome read_pipeline(PGconn* conn, std::size_t commands, std::size_t keep_rows_of,
                              bool last_is_commit,
                              std::size_t keep_more_rows_of = static_cast<std::size_t>(-1)) {
  PipelineOutcome out;
  auto fail = [&](std::size_t index, const std::string& message, const std::string& state) {
    if (out.failure) return;
    std::string text = message;
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    out.failure.emplace(text.empty() ? "the pipeline failed" : text, state);
    out.failed_at = index;
  };
  std::size_t index = 0;
  for (;;) {
    PGresult* result = PQgetResult(conn);
    if (result == nullptr) {
      if (PQstatus(conn) == CONNECTION_BAD || index > commands) {
        fail(index, PQerrorMessage(conn), "08006");
        break;
      }
      ++index;
      continue;
    }
    const auto status = PQresultStatus(result);
    if (status == PGRES_PIPELINE_SYNC) {
      PQclear(result);
      break;
    }
    if (status == PGRES_FATAL_ERROR || status == PGRES_PIPELINE_ABORTED) {
      const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
      fail(index, PQresultErrorMessage(result), state ? state : "");
    } else if (status == PGRES_TUPLES_OK && index == keep_rows_of) {
      out.rows = read_rows(result);
    } else if (status == PGRES_TUPLES_OK && index == keep_more_rows_of) {
      out.more_rows = read_rows(result);
    } else if (last_is_commit && index + 1 == commands && status == PGRES_COMMAND_OK &&
               std::string_view(PQcmdStatus(result)) != "COMMIT") {
      // COMMIT of a transaction that had failed answers ROLLBACK.
      fail(index, "the transaction was rolled back", "40000");
    }
    PQclear(result);
  }
  return out;
}

}  // namespace

std::vector<Row> fetch(soci::session& sql, const std::string& query,
                       const std::vector<Value>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PGconn* conn = native(sql);
  const auto name = prepared_name(conn, query, static_cast<int>(values.size()));
  PGresult* result = PQexecPrepared(conn, name.c_str(), static_cast<int>(values.size()),
                                    values.data(), nullptr, nullptr, 0);
  throw_unless_ok(result);
  auto out = read_rows(result);
  PQclear(result);
  return out;
}

std::vector<Row> fetch_unprepared(soci::session& sql, const std::string& query,
                                  const std::vector<Value>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  PGresult* result = PQexecParams(native(sql), query.c_str(), static_cast<int>(values.size()),
                                  nullptr, values.data(), nullptr, nullptr, 0);
  throw_unless_ok(result);
  auto out = read_rows(result);
  PQclear(result);
  return out;
}

void RawRows::Free::operator()(void* result) const {
  PQclear(static_cast<PGresult*>(result));
}
int RawRows::rows() const {
  return PQntuples(static_cast<const PGresult*>(result_.get()));
}
bool RawRows::is_null(int row, int column) const {
  return PQgetisnull(static_cast<const PGresult*>(result_.get()), row, column) != 0;
}
std::string_view RawRows::at(int row, int column) const {
  const auto* r = static_cast<const PGresult*>(result_.get());
  return {PQgetvalue(r, row, column), static_cast<std::size_t>(PQgetlength(r, row, column))};
}
std::optional<std::string> RawRows::value(int row, int column) const {
  if (is_null(row, column)) return std::nullopt;
  return std::string(at(row, column));
}

RawRows fetch_raw(soci::session& sql, const std::string& query) {
  PGresult* result = PQexec(native(sql), query.c_str());
  throw_unless_ok(result);
  RawRows out;
  out.result_.reset(result);
  return out;
}

std::string text_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    out += '"';
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

void copy_in(soci::session& sql, const std::string& copy_statement, const std::string& data) {
  PGconn* conn = native(sql);
  PGresult* start = PQexec(conn, copy_statement.c_str());
  if (PQresultStatus(start) != PGRES_COPY_IN) {
    throw_unless_ok(start);  // the statement's error
    PQclear(start);
    throw SqlError("COPY did not start", "");
  }
  PQclear(start);
  // Chunks of 1 MiB keep libpq's buffer small; the server parses as they arrive.
  constexpr std::size_t kChunk = 1 << 20;
  const char* failure = nullptr;
  for (std::size_t at = 0; at < data.size(); at += kChunk) {
    const auto n = std::min(kChunk, data.size() - at);
    if (PQputCopyData(conn, data.data() + at, static_cast<int>(n)) != 1) {
      failure = "sending COPY data failed";
      break;
    }
  }
  PQputCopyEnd(conn, failure);
  PGresult* result = PQgetResult(conn);
  bool failed = false;
  std::optional<SqlError> error;
  while (result != nullptr) {
    if (!failed) {
      try {
        throw_unless_ok(result);
        PQclear(result);
      } catch (const SqlError& e) {
        failed = true;
        error = e;
      }
    } else {
      PQclear(result);
    }
    result = PQgetResult(conn);
  }
  if (error) throw *error;
  if (failure) throw SqlError(std::string(failure) + ": " + PQerrorMessage(conn), "08006");
}

void Batch::add(const std::string& query, std::vector<Value> params,
                std::function<void(const SqlError&)> on_error) {
  statements_.push_back({&query, std::move(params), std::move(on_error)});
}

void Transaction::begin() {
  execute_script(sql_, "begin");
  open_ = true;
}

std::vector<Row> Transaction::begin_with(const std::string& query, const std::vector<Value>& params,
                                         const Prefetch* prefetch, std::vector<Row>* prefetched) {
  PGconn* conn = native(sql_);
  const auto name = prepared_name(conn, query, static_cast<int>(params.size()));
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p ? p->c_str() : nullptr);
  const bool also = prefetch != nullptr && prefetch->query != nullptr;
  std::string also_name;
  std::vector<const char*> also_values;
  if (also) {
    also_name = prepared_name(conn, *prefetch->query, static_cast<int>(prefetch->params.size()));
    for (const auto& p : prefetch->params) also_values.push_back(p ? p->c_str() : nullptr);
  }
  if (PQenterPipelineMode(conn) != 1) throw soci::soci_error("cannot enter pipeline mode");
  bool sent = PQsendQueryParams(conn, "begin", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1 &&
              PQsendQueryPrepared(conn, name.c_str(), static_cast<int>(values.size()),
                                  values.data(), nullptr, nullptr, 0) == 1;
  if (sent && also) {
    sent = PQsendQueryPrepared(conn, also_name.c_str(), static_cast<int>(also_values.size()),
                               also_values.data(), nullptr, nullptr, 0) == 1;
  }
  sent = sent && PQpipelineSync(conn) == 1;
  PipelineOutcome outcome;
  if (sent) {
    outcome = also ? read_pipeline(conn, 3, 1, false, 2) : read_pipeline(conn, 2, 1, false);
  }
  // A connection left in pipeline mode is not lent again (connection_ok).
  const bool exited = PQexitPipelineMode(conn) == 1;
  if (!sent || !exited)
    throw soci::soci_error(std::string("sending BEGIN failed: ") + PQerrorMessage(conn));
  open_ = true;  // BEGIN went through: end the transaction either way
  if (outcome.failure) {
    try {
      rollback();
    } catch (const std::exception&) {
      // The connection is gone: the server rolled back for us; report the first failure.
    }
    throw *outcome.failure;
  }
  if (also && prefetched != nullptr) *prefetched = std::move(outcome.more_rows);
  return std::move(outcome.rows);
}

Transaction::~Transaction() {
  if (!open_) return;
  try {
    rollback();
  } catch (const std::exception&) {
    // The connection is gone: the server rolled back for us.
  }
}

void Transaction::rollback() {
  open_ = false;
  execute_script(sql_, "rollback");
}

void Transaction::commit(Batch& batch) {
  PGconn* conn = native(sql_);
  // Prepared first (a round trip each, once per connection): pipeline mode then only executes.
  std::vector<std::string> names;
  names.reserve(batch.statements_.size());
  for (const auto& st : batch.statements_)
    names.push_back(prepared_name(conn, *st.query, static_cast<int>(st.params.size())));
  if (PQenterPipelineMode(conn) != 1) throw soci::soci_error("cannot enter pipeline mode");
  bool sent = true;
  for (std::size_t i = 0; i < batch.statements_.size() && sent; ++i) {
    const auto& st = batch.statements_[i];
    std::vector<const char*> values;
    for (const auto& p : st.params) values.push_back(p ? p->c_str() : nullptr);
    sent = PQsendQueryPrepared(conn, names[i].c_str(), static_cast<int>(values.size()),
                               values.data(), nullptr, nullptr, 0) == 1;
  }
  sent = sent && PQsendQueryParams(conn, "commit", 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
  sent = sent && PQpipelineSync(conn) == 1;
  PipelineOutcome outcome;
  const std::size_t commands = batch.statements_.size() + 1;
  if (sent) outcome = read_pipeline(conn, commands, commands, true);
  const bool exited = PQexitPipelineMode(conn) == 1;  // else connection_ok refuses it
  if (!sent || !exited) {
    const std::string message = PQerrorMessage(conn);
    throw soci::soci_error("sending the commit batch failed: " + message);
  }
  if (!outcome.failure) {
    open_ = false;
    return;
  }
  // The transaction is aborted, COMMIT was skipped: end it, then report.
  try {
    rollback();
  } catch (const std::exception&) {
    // The connection is gone: the server rolled back for us.
  }
  const auto failed_at = outcome.failed_at;
  if (failed_at < batch.statements_.size() && batch.statements_[failed_at].on_error)
    batch.statements_[failed_at].on_error(*outcome.failure);
  throw *outcome.failure;
}

long long to_int(const Value& v) {
  long long out = 0;
  if (!v) throw std::logic_error("unexpected NULL where a number was expected");
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc{} || p != v->data() + v->size())
    throw std::logic_error("not a number: " + *v);
  return out;
}

namespace {

std::unique_ptr<soci::session> open_session(const std::string& dsn) {
  auto session = std::make_unique<soci::session>(soci::postgresql, dsn);
  // The server's statements are prepared once per connection (fetch) and are all simple
  // index lookups and inserts: one generic plan each, instead of planning every execution.
  execute_script(*session, "set plan_cache_mode = force_generic_plan");
  return session;
}

}  // namespace

ConnectionPool::ConnectionPool(Options options) : options_(std::move(options)) {
  if (options_.size == 0) throw std::invalid_argument("connection pool size must be positive");
  options_.dsn = to_keyword_conninfo(options_.dsn);
  slots_.resize(options_.size);
  // Connect eagerly so a wrong DSN is reported at start, not at the first request.
  for (auto& slot : slots_) {
    slot.session = open_session(options_.dsn);
    slot.last_used = std::chrono::steady_clock::now();
  }
}

ConnectionPool::~ConnectionPool() = default;

ConnectionPool::Lease ConnectionPool::acquire() {
  std::size_t index = 0;
  {
    std::unique_lock lock(mutex_);
    for (;;) {
      bool found = false;
      for (index = 0; index < slots_.size(); ++index) {
        if (!slots_[index].in_use) {
          found = true;
          break;
        }
      }
      if (found) break;
      available_.wait(lock);
    }
    slots_[index].in_use = true;
  }
  Lease lease(*this, index);
  // Validation happens outside the lock: it may need a network round trip.
  ensure_usable(slots_[index]);
  return lease;
}

void ConnectionPool::ensure_usable(Slot& slot) {
  const auto now = std::chrono::steady_clock::now();
  std::uint64_t lost = 0;
  {
    std::lock_guard lock(mutex_);
    lost = lost_;
  }
  bool healthy = !slot.suspect && connection_ok(*slot.session);
  if (healthy &&
      (now - slot.last_used > options_.validate_after_idle || slot.checked_at_loss != lost)) {
    // libpq only notices a dropped server on the next use: ping before lending an old one, and
    // every one after another connection was found dead.
    try {
      int one = 0;
      *slot.session << "select 1", soci::into(one);
    } catch (const std::exception&) {
      healthy = false;
    }
  }
  if (!healthy) {
    {
      std::lock_guard lock(mutex_);
      if (!slot.suspect) ++lost_;  // a suspect slot was already counted by mark_suspect
      lost = lost_;
    }
    // Replacing (rather than reconnect()) also drops the server-side prepared statements.
    slot.session = open_session(options_.dsn);
    std::lock_guard lock(mutex_);
    ++reconnects_;
  }
  slot.suspect = false;
  slot.checked_at_loss = lost;
}

void ConnectionPool::release(std::size_t index) {
  {
    std::lock_guard lock(mutex_);
    slots_[index].in_use = false;
    slots_[index].last_used = std::chrono::steady_clock::now();
  }
  available_.notify_one();
}

PoolStats ConnectionPool::stats() const {
  std::lock_guard lock(mutex_);
  PoolStats s;
  s.size = slots_.size();
  for (const auto& slot : slots_) s.in_use += slot.in_use ? 1 : 0;
  s.idle = s.size - s.in_use;
  s.reconnects = reconnects_;
  return s;
}

ConnectionPool::Lease::~Lease() {
  if (pool_ != nullptr) pool_->release(slot_);
}

soci::session& ConnectionPool::Lease::session() {
  return *pool_->slots_[slot_].session;
}

void ConnectionPool::Lease::mark_suspect() {
  auto& slot = pool_->slots_[slot_];
  // A failed statement on a live connection leaves it usable; only a dead one is replaced.
  slot.suspect = !connection_ok(*slot.session);
  if (slot.suspect) {
    std::lock_guard lock(pool_->mutex_);
    ++pool_->lost_;
  }
}

}  // namespace circolo::db
