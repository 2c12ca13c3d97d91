// PgPool and versioned migrations against a real PostgreSQL 15.
#include "common/pg.h"

#include <gtest/gtest.h>

#include "tests/fixtures/postgres_server.h"

namespace rostersync {
namespace {

TEST(PgMigrationsTest, AppliesOnceInOrderAndMapsErrors) {
  auto pg = testing::PostgresServer::Start();
  ASSERT_TRUE(pg.ok()) << pg.status();
  auto conninfo = (*pg)->CreateDatabase("migrations");
  ASSERT_TRUE(conninfo.ok());
  auto pool = PgPool::Connect(*conninfo, 2);
  ASSERT_TRUE(pool.ok()) << pool.status();

  std::vector<Migration> migrations = {
      {1, "items", "CREATE TABLE items (id text PRIMARY KEY, n integer NOT NULL)"},
      {2, "items.note", "ALTER TABLE items ADD COLUMN note text"},
  };
  ASSERT_TRUE(ApplyMigrations(**pool, "svc", migrations).ok());
  // A second start applies nothing and does not fail.
  ASSERT_TRUE(ApplyMigrations(**pool, "svc", migrations).ok());

  absl::Status insert = (*pool)->Transact([](pqxx::work& txn) {
    txn.exec("INSERT INTO svc.items (id, n, note) VALUES ('a', 1, 'x')");
    return absl::OkStatus();
  });
  ASSERT_TRUE(insert.ok()) << insert;
  absl::Status dup = (*pool)->Transact([](pqxx::work& txn) {
    txn.exec("INSERT INTO svc.items (id, n) VALUES ('a', 2)");
    return absl::OkStatus();
  });
  EXPECT_EQ(dup.code(), absl::StatusCode::kAlreadyExists);

  // A failing function aborts the whole transaction.
  absl::Status aborted = (*pool)->Transact([](pqxx::work& txn) {
    txn.exec("INSERT INTO svc.items (id, n) VALUES ('b', 2)");
    return absl::InvalidArgumentError("changed my mind");
  });
  EXPECT_EQ(aborted.code(), absl::StatusCode::kInvalidArgument);
  int64_t count = 0;
  ASSERT_TRUE((*pool)->Transact([&](pqxx::work& txn) {
    count = txn.exec("SELECT count(*) FROM svc.items")[0][0].as<int64_t>();
    auto versions = txn.exec("SELECT count(*) FROM svc.schema_migrations")[0][0].as<int64_t>();
    EXPECT_EQ(versions, 2);
    return absl::OkStatus();
  }).ok());
  EXPECT_EQ(count, 1);

  // A broken migration names its schema and version, and leaves nothing half-applied.
  std::vector<Migration> broken = migrations;
  broken.push_back({3, "broken", "CREATE TABLE t3 (x int); SELECT no_such_function()"});
  absl::Status failed = ApplyMigrations(**pool, "svc", broken);
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find("svc v3"), std::string_view::npos) << failed;
  ASSERT_TRUE((*pool)->Transact([&](pqxx::work& txn) {
    EXPECT_TRUE(txn.exec("SELECT to_regclass('svc.t3')")[0][0].is_null());
    return absl::OkStatus();
  }).ok());
}

TEST(PgPoolTest, UnreachableDatabaseIsUnavailable) {
  auto pool = PgPool::Connect("host=127.0.0.1 port=1 user=x dbname=x connect_timeout=2", 1);
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kUnavailable);
}

// libpq's parse errors quote pieces of the string ("missing \"=\" after \"ter2\"", or the whole
// URI): when the string holds a password, the message must not repeat any of it.
TEST(PgPoolTest, MalformedConninfoIsInvalidArgumentAndNeverQuotesThePassword) {
  for (const std::string conninfo :
       {"host=127.0.0.1 port=1 password=hun ter2", "postgresql://u:hunter2@[::1",
        "password='hunter2"}) {
    auto pool = PgPool::Connect(conninfo, 1);
    ASSERT_FALSE(pool.ok()) << conninfo;
    EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument) << pool.status();
    EXPECT_EQ(pool.status().message().find("ter2"), std::string_view::npos) << pool.status();
    EXPECT_EQ(pool.status().message().find("hunter2"), std::string_view::npos) << pool.status();
    EXPECT_NE(pool.status().message().find("malformed connection string"), std::string_view::npos)
        << pool.status();
  }
  // Without a password, libpq's own message is kept: it names the bad piece.
  auto pool = PgPool::Connect("host=127.0.0.1 bogus", 1);
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(pool.status().message().find("bogus"), std::string_view::npos) << pool.status();
}

TEST(PgPoolTest, ConnectErrorNeverQuotesThePassword) {
  auto pool = PgPool::Connect("host=127.0.0.1 port=1 user=x dbname=x password=s3cr3t-pw", 1);
  EXPECT_EQ(pool.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(pool.status().message().find("s3cr3t-pw"), std::string_view::npos) << pool.status();
}

}  // namespace
}  // namespace rostersync
