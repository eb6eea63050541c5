// The paced VFS (telemetry/sqlite_paced_vfs.h): a commit through it calls the writer thread's
// pause hook after every write, the file it leaves is a whole WAL database that the
// default VFS reads, and a thread without a hook is never paused.
#include "telemetry/sqlite_paced_vfs.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <string>
#include <thread>

#include "support/temp_dir.h"
#include "telemetry/sqlite_db.h"

namespace triage::telemetry::sqlite {
namespace {

class PacedVfsTest : public ::testing::Test {
 protected:
  Connection open_paced() {
    auto c = Connection::open(path_, OpenMode::kCreate, 5000, paced_vfs_name());
    EXPECT_TRUE(c.ok()) << c.error().message;
    return std::move(c).value();
  }
  // `rows` rows of 1 KiB in one transaction.
  static void write_rows(Connection& db, int rows) {
    ASSERT_TRUE(db.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT)").ok());
    ASSERT_TRUE(db.exec("BEGIN").ok());
    Statement insert(db, "INSERT INTO t (body) VALUES (?1)");
    ASSERT_TRUE(insert.ok()) << db.last_error();
    const std::string body(1024, 'x');
    for (int i = 0; i < rows; ++i) {
      ASSERT_TRUE(insert.bind(1, body).run()) << db.last_error();
      insert.reset();
    }
    ASSERT_TRUE(db.exec("COMMIT").ok()) << db.last_error();
  }
  // Frames in the WAL file (wal_checkpoint's second column; PASSIVE copies without waiting).
  static int wal_frames(Connection& db) {
    Statement s(db, "PRAGMA wal_checkpoint(PASSIVE)");
    EXPECT_EQ(s.step(), Step::kRow);
    return static_cast<int>(s.i64(1));
  }

  triage::testing::TempDir dir_;
  const std::string path_ = dir_.file("paced.db");
};

TEST_F(PacedVfsTest, ACommitCallsTheHookAfterEveryPageAndLeavesAWholeDatabase) {
  Connection db = open_paced();
  {
    Statement wal(db, "PRAGMA journal_mode=WAL");
    ASSERT_EQ(wal.step(), Step::kRow);
    EXPECT_EQ(wal.text(0), "wal");
  }
  ASSERT_TRUE(db.exec("PRAGMA wal_autocheckpoint=0").ok());  // the WAL keeps every frame
  sqlite3_vfs* used = nullptr;
  ASSERT_EQ(sqlite3_file_control(db.get(), "main", SQLITE_FCNTL_VFS_POINTER, &used), SQLITE_OK);
  ASSERT_NE(used, nullptr);
  EXPECT_STREQ(used->zName, paced_vfs_name());

  int pauses = 0;
  {
    const PacedWritesScope scope([&pauses] { ++pauses; });
    write_rows(db, 1000);  // ~1 MiB: a few hundred pages
  }
  const int frames = wal_frames(db);
  EXPECT_GT(frames, 250);
  // Two xWrites per WAL frame (its header, then its page), and one for the WAL file's header.
  EXPECT_GE(pauses, 2 * frames);

  // The scope is over: the same connection writes without pausing.
  const int before = pauses;
  write_rows(db, 10);
  EXPECT_EQ(pauses, before);

  // A reader through the default VFS sees the rows of a sound file.
  auto reader = Connection::open(path_, OpenMode::kReadOnly);
  ASSERT_TRUE(reader.ok()) << reader.error().message;
  Statement count(reader.value(), "SELECT COUNT(*) FROM t");
  ASSERT_EQ(count.step(), Step::kRow);
  EXPECT_EQ(count.i64(0), 1010);
  Statement check(reader.value(), "PRAGMA integrity_check");
  ASSERT_EQ(check.step(), Step::kRow);
  EXPECT_EQ(check.text(0), "ok");
}

TEST_F(PacedVfsTest, OnlyTheThreadThatInstalledTheHookIsPaused) {
  Connection db = open_paced();
  ASSERT_TRUE(db.exec("PRAGMA journal_mode=WAL").ok());
  int pauses = 0;
  const PacedWritesScope scope([&pauses] { ++pauses; });
  std::thread other([this] {
    Connection mine = open_paced();
    write_rows(mine, 200);
  });
  other.join();
  EXPECT_EQ(pauses, 0);
  write_rows(db, 200);
  EXPECT_GT(pauses, 0);
}

TEST_F(PacedVfsTest, ScopesRestoreTheOuterHook) {
  Connection db = open_paced();
  int outer = 0;
  int inner = 0;
  const PacedWritesScope outer_scope([&outer] { ++outer; });
  {
    const PacedWritesScope inner_scope([&inner] { ++inner; });
    write_rows(db, 50);
  }
  EXPECT_GT(inner, 0);
  EXPECT_EQ(outer, 0);
  write_rows(db, 50);
  EXPECT_GT(outer, 0);
}

}  // namespace
}  // namespace triage::telemetry::sqlite
