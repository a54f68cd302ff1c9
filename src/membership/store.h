// The membership index's SQLite store (WAL journal) in the data directory.
//
// Owner: the MembershipIndex that was given it, which calls it from the
// router's thread only; the Store is not thread-safe. Each write is its own
// transaction, committed before the call returns. With journal_mode=WAL and
// synchronous=NORMAL a committed transaction survives the process being killed
// (SIGKILL); only an OS crash or power loss may lose the last ones.
//
// Tombstones (deleted trainers and encounters within their grace period) are
// stored too, as rows with a deleted_at_ms, so cascaded events that arrive
// right after a restart still resolve. The index purges a row once its grace
// period has passed.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace herald::membership {

struct StoredGroup {
  std::string id;
  std::vector<std::string> members;  // sorted, unique
};

struct StoredTrainer {
  std::string id;
  std::string region;
  std::string owner;  // empty: no owner known
  bool npc = false;
  std::optional<std::int64_t> deleted_at_ms;  // set: a tombstone
};

struct StoredEncounter {
  std::string id;
  std::string region;
  std::optional<std::int64_t> deleted_at_ms;  // set: a tombstone
};

// Everything the store holds, read once at Open().
struct StoreSnapshot {
  std::vector<StoredGroup> groups;
  std::vector<StoredTrainer> trainers;
  std::vector<StoredEncounter> encounters;
};

class Store {
 public:
  // Opens or creates the database at `path`, checks it (quick_check, schema
  // version), switches it to WAL and reads everything into a snapshot. On any
  // failure returns null and sets *error to a sentence naming the path and the
  // cause; a corrupt or foreign file is an error, never an empty store.
  static std::unique_ptr<Store> Open(const std::string& path, std::string* error);

  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Moves out what Open() read; a second call returns an empty snapshot.
  StoreSnapshot TakeSnapshot();

  // Writes. They never throw: a failed write is rolled back, counted in
  // write_errors() and described by last_error(); the in-memory index stays
  // authoritative until the next start.
  void SaveGroup(const StoredGroup& group);
  void DeleteGroup(std::string_view id);
  void SaveTrainer(const StoredTrainer& trainer);
  void DeleteTrainer(std::string_view id);
  void SaveEncounter(const StoredEncounter& encounter);
  void DeleteEncounter(std::string_view id);

  // Committed write transactions since Open() (tests use it to show that an
  // event that changes no membership writes nothing).
  std::uint64_t write_count() const { return write_count_; }
  std::uint64_t write_errors() const { return write_errors_; }
  const std::string& last_error() const { return last_error_; }

 private:
  explicit Store(sqlite3* db, std::string path);

  bool Prepare(std::string* error);
  bool Load(std::string* error);
  bool Exec(const char* sql);
  bool Begin();
  void Commit();
  void Fail();
  bool Step(sqlite3_stmt* statement);

  sqlite3* db_;
  std::string path_;
  StoreSnapshot snapshot_;
  std::uint64_t write_count_ = 0;
  std::uint64_t write_errors_ = 0;
  std::string last_error_;

  sqlite3_stmt* insert_group_ = nullptr;
  sqlite3_stmt* delete_group_ = nullptr;
  sqlite3_stmt* delete_group_members_ = nullptr;
  sqlite3_stmt* insert_member_ = nullptr;
  sqlite3_stmt* upsert_trainer_ = nullptr;
  sqlite3_stmt* delete_trainer_ = nullptr;
  sqlite3_stmt* upsert_encounter_ = nullptr;
  sqlite3_stmt* delete_encounter_ = nullptr;
};

}  // namespace herald::membership
