// The membership index's SQLite store (WAL journal) in the data directory.
//
// Owner: the MembershipIndex that was given it. The Store is not thread-safe:
// it is called under the router's mutex (from whichever shard thread
// publishes, or serve's retry timer), and by serve after every shard stopped.
// Each write is its own transaction, committed before the call returns. With journal_mode=WAL and
// synchronous=NORMAL a committed transaction survives the process being killed
// (SIGKILL); only an OS crash or power loss may lose the last ones.
//
// Tombstones (deleted trainers and encounters within their grace period) are
// stored too, as rows with a deleted_at_ms, so cascaded events that arrive
// right after a restart still resolve. The index purges a row once its grace
// period has passed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
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
  // The same with another wait for a database locked by another connection
  // (only an operator's sqlite3 shell would hold one) before a write counts
  // as failed. The router waits with its lock held, so keep it short; tests
  // use a shorter one.
  static constexpr int kBusyTimeoutMs = 2000;
  static std::unique_ptr<Store> Open(const std::string& path, int busy_timeout_ms,
                                     std::string* error);

  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Moves out what Open() read; a second call returns an empty snapshot.
  StoreSnapshot TakeSnapshot();

  // Writes, each of one row's whole state (a group with its members, a
  // trainer, an encounter); no write touches another row. A failed write is
  // rolled back, counted in write_errors(), described by last_error() and
  // kept as unsaved: every later write first retries what is unsaved, and so
  // does RetryUnsaved(). Only the newest state of a row is kept, so a retry
  // never writes an older state over a newer one. Until unsaved() is 0 the
  // file lags the in-memory index, and a restart would bring back the old
  // memberships; serve logs it and exports it as a metric.
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
  // Rows whose newest state is not in the file yet.
  std::size_t unsaved() const { return unsaved_.size(); }
  // Tries once to write every unsaved row, without waiting for a lock held
  // by another connection (the caller holds the router's mutex). Returns
  // true when nothing is left unsaved.
  bool RetryUnsaved();

 private:
  Store(sqlite3* db, std::string path, int busy_timeout_ms);

  bool Prepare(std::string* error);
  bool Load(std::string* error);
  bool Exec(const char* sql);
  bool Begin();
  bool Commit();
  bool Fail();
  bool Step(sqlite3_stmt* statement);

  // Which table a row is in, for the unsaved map's key.
  enum class Table { kGroups, kTrainers, kEncounters };
  // Runs `write` (one transaction; true if committed) after retrying what
  // is unsaved, and keeps it as the row's unsaved state if it fails.
  void Write(Table table, std::string_view id, std::function<bool()> write);
  // Runs one write, waiting for another connection's lock only while
  // nothing is unsaved.
  bool Attempt(const std::function<bool()>& write);
  bool WriteGroup(const StoredGroup& group);
  bool WriteGroupDeletion(const std::string& id);
  bool WriteTrainer(const StoredTrainer& trainer);
  bool WriteTrainerDeletion(const std::string& id);
  bool WriteEncounter(const StoredEncounter& encounter);
  bool WriteEncounterDeletion(const std::string& id);

  sqlite3* db_;
  std::string path_;
  int busy_timeout_ms_;
  StoreSnapshot snapshot_;
  std::uint64_t write_count_ = 0;
  std::uint64_t write_errors_ = 0;
  std::string last_error_;
  std::map<std::pair<Table, std::string>, std::function<bool()>> unsaved_;

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
