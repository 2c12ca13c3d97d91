#include "common/pg.h"

#include <libpq-fe.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace rostersync {

absl::Status StatusFromPqxx(const std::exception& e) {
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return absl::UnavailableError(absl::StrCat("postgresql: connection lost: ", e.what()));
  }
  if (dynamic_cast<const pqxx::unique_violation*>(&e) != nullptr) {
    return absl::AlreadyExistsError(absl::StrCat("postgresql: ", e.what()));
  }
  if (dynamic_cast<const pqxx::serialization_failure*>(&e) != nullptr ||
      dynamic_cast<const pqxx::deadlock_detected*>(&e) != nullptr) {
    return absl::AbortedError(absl::StrCat("postgresql: ", e.what()));
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return absl::UnavailableError(absl::StrCat("postgresql: commit outcome unknown: ", e.what()));
  }
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e); sql != nullptr) {
    // Class 08 (connection exception) and 57P (operator intervention) are transient.
    const std::string& state = sql->sqlstate();
    if (state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0) {
      return absl::UnavailableError(absl::StrCat("postgresql: ", e.what()));
    }
    return absl::InternalError(absl::StrCat("postgresql: ", e.what()));
  }
  return absl::InternalError(absl::StrCat("postgresql: ", e.what()));
}

namespace {

// libpq quotes pieces of a malformed connection string in its error ("missing \"=\" after
// \"ter2\"", or the whole URI), and such a piece may be (part of) the password.
bool MayHoldPassword(const std::string& conninfo) {
  return absl::StrContains(absl::AsciiStrToLower(conninfo), "password") ||
         absl::StrContains(conninfo, "@");
}

std::string TrimMessage(const char* message) {
  return std::string(absl::StripTrailingAsciiWhitespace(message == nullptr ? "" : message));
}

}  // namespace

absl::Status ValidateConninfo(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (options != nullptr) {
    PQconninfoFree(options);
    return absl::OkStatus();
  }
  std::string why = error != nullptr ? TrimMessage(error) : "out of memory";
  if (error != nullptr) PQfreemem(error);
  if (MayHoldPassword(conninfo)) {
    why = "libpq's message is withheld because it may quote the password";
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "postgresql: malformed connection string (expected key=value pairs or a postgresql:// "
      "URI): ",
      why));
}

absl::StatusOr<std::unique_ptr<PgPool>> PgPool::Connect(const std::string& conninfo, int size) {
  if (absl::Status valid = ValidateConninfo(conninfo); !valid.ok()) return valid;
  // The passwords the string holds, to scrub them from any message (belt and braces: libpq's
  // messages for a well-formed string name host, port, user and database only).
  std::vector<std::string> passwords;
  if (PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), nullptr); options != nullptr) {
    for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
      if (o->val != nullptr && *o->val != '\0' && std::string_view(o->keyword) == "password") {
        passwords.emplace_back(o->val);
      }
    }
    PQconninfoFree(options);
  }
  auto pool = std::unique_ptr<PgPool>(new PgPool(conninfo));
  for (int i = 0; i < size; ++i) {
    try {
      pool->idle_.push_back(std::make_unique<pqxx::connection>(conninfo));
    } catch (const std::exception& e) {
      std::string why = TrimMessage(e.what());
      for (const std::string& password : passwords) {
        absl::StrReplaceAll({{password, "<password>"}}, &why);
      }
      return absl::UnavailableError(absl::StrCat("postgresql: cannot connect: ", why));
    }
  }
  return pool;
}

std::unique_ptr<pqxx::connection> PgPool::Acquire() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!idle_.empty()) {
      auto conn = std::move(idle_.back());
      idle_.pop_back();
      if (conn->is_open()) return conn;
    }
  }
  return std::make_unique<pqxx::connection>(conninfo_);  // may throw; callers catch
}

void PgPool::Release(std::unique_ptr<pqxx::connection> conn) {
  if (!conn || !conn->is_open()) return;
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(std::move(conn));
}

absl::Status PgPool::WithConnection(const std::function<absl::Status(pqxx::connection&)>& fn) {
  std::unique_ptr<pqxx::connection> conn;
  absl::Status status;
  try {
    conn = Acquire();
    status = fn(*conn);
  } catch (const std::exception& e) {
    status = StatusFromPqxx(e);
    if (absl::IsUnavailable(status)) conn.reset();  // do not return a broken connection
  }
  Release(std::move(conn));
  return status;
}

absl::Status PgPool::Transact(const std::function<absl::Status(pqxx::work&)>& fn) {
  return WithConnection([&](pqxx::connection& conn) -> absl::Status {
    pqxx::work txn(conn);
    absl::Status status = fn(txn);
    if (!status.ok()) {
      txn.abort();
      return status;
    }
    txn.commit();
    return absl::OkStatus();
  });
}

absl::Status ApplyMigrations(PgPool& pool, const std::string& schema,
                             const std::vector<Migration>& migrations) {
  for (const Migration& m : migrations) {
    absl::Status status = pool.Transact([&](pqxx::work& txn) -> absl::Status {
      // One lock per schema serializes replicas starting at once.
      txn.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", "migrations:" + schema);
      txn.exec("CREATE SCHEMA IF NOT EXISTS " + txn.quote_name(schema));
      txn.exec("CREATE TABLE IF NOT EXISTS " + txn.quote_name(schema) +
               ".schema_migrations (version integer PRIMARY KEY, description text NOT NULL, "
               "applied_at timestamptz NOT NULL DEFAULT now())");
      pqxx::result done = txn.exec_params("SELECT 1 FROM " + txn.quote_name(schema) +
                                              ".schema_migrations WHERE version = $1",
                                          m.version);
      if (!done.empty()) return absl::OkStatus();
      txn.exec("SET LOCAL search_path TO " + txn.quote_name(schema));
      txn.exec(m.sql);
      txn.exec_params("INSERT INTO " + txn.quote_name(schema) +
                          ".schema_migrations (version, description) VALUES ($1, $2)",
                      m.version, m.description);
      log::Info("schema migration applied", {{"schema", schema},
                                             {"version", std::to_string(m.version)},
                                             {"description", m.description}});
      return absl::OkStatus();
    });
    if (!status.ok()) {
      return absl::Status(status.code(), absl::StrCat("migration ", schema, " v", m.version,
                                                      " (", m.description, "): ",
                                                      status.message()));
    }
  }
  return absl::OkStatus();
}

}  // namespace rostersync
