#include "membership/store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>

#include "membership/membership_index.h"

namespace herald::membership {
namespace {

using Users = std::vector<std::string>;

constexpr std::int64_t kGraceMs = 5 * 60 * 1000;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("herald_store_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = (dir_ / "membership.db").string();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Store> OpenOrFail(int busy_timeout_ms = Store::kBusyTimeoutMs) {
    std::string error;
    std::unique_ptr<Store> store = Store::Open(path_, busy_timeout_ms, &error);
    EXPECT_TRUE(store) << error;
    return store;
  }

  std::filesystem::path dir_;
  std::string path_;
};

void BuildMemberships(MembershipIndex& index, std::int64_t now_ms) {
  index.Apply("groups.g1.created", R"({"members":["a","b","c"]})", nullptr, now_ms);
  index.Apply("groups.g2.created", R"({"members":[]})", nullptr, now_ms);
  index.Apply("groups.g1.updated", R"({"members":["a","b"]})", nullptr, now_ms);
  index.Apply("regions.r.trainers.t1.created", R"({"user":"a"})", nullptr, now_ms);
  index.Apply("regions.r.trainers.t2.created", R"({"user":"b"})", nullptr, now_ms);
  index.Apply("regions.r.trainers.joy.created", R"({"user":"f","npc":{}})", nullptr, now_ms);
  index.Apply("regions.r2.trainers.t3.created", R"({"user":"d"})", nullptr, now_ms);
  index.Apply("regions.r.encounters.e1.created", "{}", nullptr, now_ms);
  index.Apply("regions.r.encounters.e2.created", "{}", nullptr, now_ms);
  index.Apply("regions.r.trainers.t2.deleted", "{}", nullptr, now_ms);
  index.Apply("regions.r.encounters.e2.deleted", "{}", nullptr, now_ms);
}

TEST_F(StoreTest, ReopenKeepsEveryMembershipAndTombstone) {
  const std::int64_t now_ms = 1'000'000;
  {
    std::unique_ptr<Store> store = OpenOrFail();
    MembershipIndex index(IndexOptions{}, store.get());
    BuildMemberships(index, now_ms);
    EXPECT_EQ(store->write_errors(), 0u) << store->last_error();
  }
  std::unique_ptr<Store> store = OpenOrFail();
  MembershipIndex index(IndexOptions{}, store.get());
  EXPECT_EQ(index.GroupMembers("g1"), Users({"a", "b"}));
  EXPECT_TRUE(index.HasGroup("g2"));
  EXPECT_EQ(index.group_count(), 2u);
  EXPECT_EQ(index.RegionMembers("r"), Users({"a"}));
  EXPECT_EQ(index.RegionMembers("r2"), Users({"d"}));
  EXPECT_EQ(index.trainer_count(), 3u);
  EXPECT_EQ(index.encounter_count(), 1u);
  EXPECT_EQ(index.tombstone_count(), 2u);

  // Tombstones survive the restart: cascades still resolve within grace.
  Resolution monster = index.Apply("trainers.t2.monsters.m.deleted", "", nullptr, now_ms + 1000);
  EXPECT_EQ(monster.audience.users, Users({"a", "b"}));
  Resolution opponent = index.Apply("encounters.e2.opponents.o.deleted", "", nullptr, now_ms + 1);
  EXPECT_EQ(opponent.audience.users, Users({"a"}));
}

TEST_F(StoreTest, SigkillAfterWritesLosesNothing) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    std::string error;
    std::unique_ptr<Store> store = Store::Open(path_, &error);
    if (!store) ::_exit(3);
    MembershipIndex index(IndexOptions{}, store.get());
    BuildMemberships(index, 1'000'000);
    ::raise(SIGKILL);  // no destructor, no checkpoint, no close
    ::_exit(4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;

  std::unique_ptr<Store> store = OpenOrFail();
  MembershipIndex index(IndexOptions{}, store.get());
  EXPECT_EQ(index.GroupMembers("g1"), Users({"a", "b"}));
  EXPECT_EQ(index.RegionMembers("r"), Users({"a"}));
  EXPECT_EQ(index.RegionMembers("r2"), Users({"d"}));
  EXPECT_EQ(index.tombstone_count(), 2u);
}

TEST_F(StoreTest, ExpiredTombstonesArePurgedFromTheFile) {
  const std::int64_t now_ms = 1'000'000;
  {
    std::unique_ptr<Store> store = OpenOrFail();
    MembershipIndex index(IndexOptions{}, store.get());
    BuildMemberships(index, now_ms);
    index.Apply("users.u.created", "{}", nullptr, now_ms + kGraceMs);
    EXPECT_EQ(index.tombstone_count(), 0u);
  }
  std::unique_ptr<Store> store = OpenOrFail();
  MembershipIndex index(IndexOptions{}, store.get());
  EXPECT_EQ(index.tombstone_count(), 0u);
  EXPECT_EQ(index.Apply("trainers.t2.monsters.m.deleted", "", nullptr, now_ms).drop,
            DropReason::kUnknownTrainer);
}

TEST_F(StoreTest, WritesOnlyWhenMembershipChanges) {
  std::unique_ptr<Store> store = OpenOrFail();
  MembershipIndex index(IndexOptions{}, store.get());
  index.Apply("regions.r.trainers.t1.created", R"({"user":"a","x":1})", nullptr, 0);
  index.Apply("groups.g.created", R"({"members":["a","b"]})", nullptr, 0);
  index.Apply("regions.r.encounters.e.created", "{}", nullptr, 0);
  const std::uint64_t writes = store->write_count();
  EXPECT_EQ(writes, 3u);

  // A trainer moving, the same members again, messages, monsters: no write.
  index.Apply("regions.r.trainers.t1.updated", R"({"user":"a","x":2,"y":7})", nullptr, 0);
  index.Apply("regions.r.trainers.t1.updated", R"({"x":3})", nullptr, 0);
  index.Apply("groups.g.updated", R"({"members":["b","a"]})", nullptr, 0);
  index.Apply("groups.g.messages.m.created", "{}", nullptr, 0);
  index.Apply("trainers.t1.monsters.m.created", "{}", nullptr, 0);
  index.Apply("regions.r.encounters.e.created", "{}", nullptr, 0);
  index.Apply("regions.r.trainers.t1.updated", "not json", nullptr, 0);
  EXPECT_EQ(store->write_count(), writes);

  // A real change writes once.
  index.Apply("regions.r.trainers.t1.updated", R"({"user":"a","npc":{}})", nullptr, 0);
  EXPECT_EQ(store->write_count(), writes + 1);
}

// Another connection (an operator's sqlite3 shell) holding the write lock.
class WriteLock {
 public:
  explicit WriteLock(const std::string& path) {
    sqlite3_open(path.c_str(), &db_);
    locked_ = sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  ~WriteLock() {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
  }
  bool locked() const { return locked_; }

 private:
  sqlite3* db_ = nullptr;
  bool locked_ = false;
};

TEST_F(StoreTest, FailedWritesAreRetriedAndNeverLostAcrossARestart) {
  const std::int64_t now_ms = 1'000'000;
  {
    std::unique_ptr<Store> store = OpenOrFail(/*busy_timeout_ms=*/10);
    ASSERT_TRUE(store);
    MembershipIndex index(IndexOptions{}, store.get());
    index.Apply("groups.g1.created", R"({"members":["alice","bob"]})", nullptr, now_ms);
    index.Apply("groups.g2.created", R"({"members":["carol"]})", nullptr, now_ms);
    {
      WriteLock lock(path_);
      ASSERT_TRUE(lock.locked());
      // Bob leaves g1, g2 is deleted and recreated: none of it reaches the file.
      index.Apply("groups.g1.updated", R"({"members":["alice"]})", nullptr, now_ms);
      index.Apply("groups.g2.deleted", "", nullptr, now_ms);
      index.Apply("groups.g2.created", R"({"members":["dave"]})", nullptr, now_ms);
      EXPECT_GE(store->write_errors(), 3u);
      EXPECT_EQ(store->unsaved(), 2u);  // one newest state per row
      EXPECT_FALSE(store->RetryUnsaved());
      EXPECT_FALSE(store->last_error().empty());
    }
    EXPECT_TRUE(store->RetryUnsaved()) << store->last_error();
    EXPECT_EQ(store->unsaved(), 0u);
  }
  std::unique_ptr<Store> store = OpenOrFail();
  MembershipIndex index(IndexOptions{}, store.get());
  EXPECT_EQ(index.GroupMembers("g1"), Users({"alice"}));
  EXPECT_EQ(index.GroupMembers("g2"), Users({"dave"}));
}

TEST_F(StoreTest, ANewerWriteOfTheSameRowSupersedesTheUnsavedOne) {
  const std::int64_t now_ms = 1'000'000;
  std::unique_ptr<Store> store = OpenOrFail(/*busy_timeout_ms=*/10);
  ASSERT_TRUE(store);
  {
    MembershipIndex index(IndexOptions{}, store.get());
    index.Apply("regions.r.trainers.t1.created", R"({"user":"alice"})", nullptr, now_ms);
    {
      WriteLock lock(path_);
      index.Apply("regions.r.trainers.t1.updated", R"({"user":"bob"})", nullptr, now_ms);
      EXPECT_EQ(store->unsaved(), 1u);
    }
    // The next write retries the unsaved one first, then writes its own.
    index.Apply("regions.r.trainers.t1.updated", R"({"user":"carol"})", nullptr, now_ms);
    EXPECT_EQ(store->unsaved(), 0u) << store->last_error();
  }
  store.reset();
  store = OpenOrFail();
  MembershipIndex index(IndexOptions{}, store.get());
  EXPECT_EQ(index.RegionMembers("r"), Users({"carol"}));
}

TEST_F(StoreTest, CorruptFileIsAnOpenError) {
  {
    std::ofstream file(path_, std::ios::binary);
    std::string garbage(4096, '\0');
    for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 131 + 7);
    file << garbage;
  }
  std::string error;
  EXPECT_EQ(Store::Open(path_, &error), nullptr);
  EXPECT_NE(error.find(path_), std::string::npos) << error;
  EXPECT_NE(error.find("not a database"), std::string::npos) << error;
}

TEST_F(StoreTest, ShortGarbageFileIsAnOpenError) {
  { std::ofstream(path_, std::ios::binary) << "garbage bytes"; }
  std::string error;
  EXPECT_EQ(Store::Open(path_, &error), nullptr);
  EXPECT_FALSE(error.empty());
}

TEST_F(StoreTest, UnopenablePathIsAnOpenError) {
  std::string error;
  EXPECT_EQ(Store::Open((dir_ / "missing" / "membership.db").string(), &error), nullptr);
  EXPECT_NE(error.find("unable to open"), std::string::npos) << error;
}

TEST_F(StoreTest, UsesWalJournal) {
  { std::unique_ptr<Store> store = OpenOrFail(); }
  std::ifstream file(path_, std::ios::binary);
  char header[20] = {};
  file.read(header, sizeof(header));
  // Bytes 18 and 19 of the header are 2 in WAL mode (SQLite file format 1.3.1).
  EXPECT_EQ(header[18], 2);
  EXPECT_EQ(header[19], 2);
}

}  // namespace
}  // namespace herald::membership
