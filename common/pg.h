#pragma once

// PostgreSQL access over libpqxx 6.4: a small connection pool, transactions that never let a
// pqxx exception escape, and versioned per-service schema migrations applied at start.
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rostersync {

class PgPool {
 public:
  // Connects `size` connections; UNAVAILABLE naming the database when it cannot;
  // INVALID_ARGUMENT when `conninfo` is malformed (see ValidateConninfo).
  static absl::StatusOr<std::unique_ptr<PgPool>> Connect(const std::string& conninfo, int size);

  // Runs `fn` inside one transaction; commits when it returns OK, aborts otherwise.
  // libpqxx exceptions become statuses: broken connection -> UNAVAILABLE, unique violation
  // -> ALREADY_EXISTS, serialization failure -> ABORTED, other SQL errors -> INTERNAL.
  absl::Status Transact(const std::function<absl::Status(pqxx::work&)>& fn);

  // Runs `fn` with a connection of its own (e.g. for COPY or several transactions).
  absl::Status WithConnection(const std::function<absl::Status(pqxx::connection&)>& fn);

 private:
  explicit PgPool(std::string conninfo) : conninfo_(std::move(conninfo)) {}
  std::unique_ptr<pqxx::connection> Acquire();
  void Release(std::unique_ptr<pqxx::connection> conn);

  std::string conninfo_;
  std::mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
};

// INVALID_ARGUMENT when libpq cannot parse `conninfo`. The message never quotes a string that
// holds a password (libpq's parse errors echo pieces of it).
absl::Status ValidateConninfo(const std::string& conninfo);

// Maps a caught exception to a status (used by PgPool; exposed for stores that use raw pqxx).
absl::Status StatusFromPqxx(const std::exception& e);

struct Migration {
  int version;
  std::string description;
  std::string sql;
};

// Creates `schema` and "<schema>.schema_migrations" if missing, then applies, in one
// transaction each and under an advisory lock, every migration whose version is not recorded.
absl::Status ApplyMigrations(PgPool& pool, const std::string& schema,
                             const std::vector<Migration>& migrations);

}  // namespace rostersync
