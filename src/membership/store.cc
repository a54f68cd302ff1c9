#include "membership/store.h"

#include <sqlite3.h>

#include <map>
#include <utility>

namespace herald::membership {
namespace {

// Bumped when the schema changes; a file with another version is refused
// rather than misread.
constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS groups(id TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS group_members(
  group_id TEXT NOT NULL, user_id TEXT NOT NULL,
  PRIMARY KEY(group_id, user_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS trainers(
  id TEXT PRIMARY KEY, region TEXT NOT NULL, owner TEXT NOT NULL,
  npc INTEGER NOT NULL, deleted_at_ms INTEGER) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS encounters(
  id TEXT PRIMARY KEY, region TEXT NOT NULL, deleted_at_ms INTEGER) WITHOUT ROWID;
)sql";

void Bind(sqlite3_stmt* statement, int index, std::string_view text) {
  sqlite3_bind_text(statement, index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

void BindOptional(sqlite3_stmt* statement, int index, std::optional<std::int64_t> value) {
  if (value) {
    sqlite3_bind_int64(statement, index, *value);
  } else {
    sqlite3_bind_null(statement, index);
  }
}

std::string ColumnText(sqlite3_stmt* statement, int column) {
  const unsigned char* text = sqlite3_column_text(statement, column);
  int size = sqlite3_column_bytes(statement, column);
  return text ? std::string(reinterpret_cast<const char*>(text), size) : std::string();
}

std::optional<std::int64_t> ColumnOptional(sqlite3_stmt* statement, int column) {
  if (sqlite3_column_type(statement, column) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(statement, column);
}

// Runs a query and returns the text of each row's first column; false (with
// *error set) when SQLite reports an error, e.g. "file is not a database".
bool QueryColumn(sqlite3* db, const char* sql, std::vector<std::string>* rows, std::string* error) {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &statement, nullptr) != SQLITE_OK) {
    *error = sqlite3_errmsg(db);
    return false;
  }
  int rc;
  while ((rc = sqlite3_step(statement)) == SQLITE_ROW) rows->push_back(ColumnText(statement, 0));
  if (rc != SQLITE_DONE) *error = sqlite3_errmsg(db);
  sqlite3_finalize(statement);
  return rc == SQLITE_DONE;
}

bool ExecOrError(sqlite3* db, const char* sql, std::string* error) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) == SQLITE_OK) return true;
  *error = message ? message : sqlite3_errmsg(db);
  sqlite3_free(message);
  return false;
}

// Integrity, journal mode and schema version: everything that makes a file
// usable, in the order that reports a foreign or corrupt file first.
bool CheckAndMigrate(sqlite3* db, std::string* error) {
  std::vector<std::string> rows;
  if (!QueryColumn(db, "PRAGMA quick_check", &rows, error)) return false;
  if (rows.empty() || rows[0] != "ok") {
    *error = "integrity check failed: " + (rows.empty() ? std::string("no result") : rows[0]);
    return false;
  }

  rows.clear();
  if (!QueryColumn(db, "PRAGMA journal_mode=WAL", &rows, error)) return false;
  if (rows.empty() || rows[0] != "wal") {
    *error = "cannot switch to WAL journal mode";
    return false;
  }
  if (!ExecOrError(db, "PRAGMA synchronous=NORMAL", error)) return false;

  rows.clear();
  if (!QueryColumn(db, "PRAGMA user_version", &rows, error)) return false;
  int version = rows.empty() ? 0 : std::stoi(rows[0]);
  if (version != 0 && version != kSchemaVersion) {
    *error = "schema version " + std::to_string(version) + " is not the supported " +
             std::to_string(kSchemaVersion);
    return false;
  }
  if (!ExecOrError(db, kSchema, error)) return false;
  std::string set_version = "PRAGMA user_version=" + std::to_string(kSchemaVersion);
  return ExecOrError(db, set_version.c_str(), error);
}

}  // namespace

std::unique_ptr<Store> Store::Open(const std::string& path, std::string* error) {
  return Open(path, kBusyTimeoutMs, error);
}

std::unique_ptr<Store> Store::Open(const std::string& path, int busy_timeout_ms,
                                   std::string* error) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    *error = "membership store " + path + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return nullptr;
  }
  sqlite3_busy_timeout(db, busy_timeout_ms);

  std::unique_ptr<Store> store(new Store(db, path, busy_timeout_ms));
  std::string cause;
  if (!CheckAndMigrate(db, &cause) || !store->Prepare(&cause) || !store->Load(&cause)) {
    *error = "membership store " + path + ": " + cause;
    return nullptr;
  }
  return store;
}

Store::Store(sqlite3* db, std::string path, int busy_timeout_ms)
    : db_(db), path_(std::move(path)), busy_timeout_ms_(busy_timeout_ms) {}

Store::~Store() {
  for (sqlite3_stmt* statement :
       {insert_group_, delete_group_, delete_group_members_, insert_member_, upsert_trainer_,
        delete_trainer_, upsert_encounter_, delete_encounter_}) {
    sqlite3_finalize(statement);
  }
  sqlite3_close(db_);
}

bool Store::Prepare(std::string* error) {
  const std::pair<sqlite3_stmt**, const char*> statements[] = {
      {&insert_group_, "INSERT OR IGNORE INTO groups(id) VALUES(?1)"},
      {&delete_group_, "DELETE FROM groups WHERE id = ?1"},
      {&delete_group_members_, "DELETE FROM group_members WHERE group_id = ?1"},
      {&insert_member_, "INSERT OR IGNORE INTO group_members(group_id, user_id) VALUES(?1, ?2)"},
      {&upsert_trainer_,
       "INSERT OR REPLACE INTO trainers(id, region, owner, npc, deleted_at_ms) "
       "VALUES(?1, ?2, ?3, ?4, ?5)"},
      {&delete_trainer_, "DELETE FROM trainers WHERE id = ?1"},
      {&upsert_encounter_,
       "INSERT OR REPLACE INTO encounters(id, region, deleted_at_ms) VALUES(?1, ?2, ?3)"},
      {&delete_encounter_, "DELETE FROM encounters WHERE id = ?1"},
  };
  for (const auto& [slot, sql] : statements) {
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, nullptr) != SQLITE_OK) {
      *error = sqlite3_errmsg(db_);
      return false;
    }
  }
  return true;
}

bool Store::Load(std::string* error) {
  const char* kQueries[] = {
      "SELECT id FROM groups",
      "SELECT group_id, user_id FROM group_members ORDER BY group_id, user_id",
      "SELECT id, region, owner, npc, deleted_at_ms FROM trainers",
      "SELECT id, region, deleted_at_ms FROM encounters",
  };
  std::map<std::string, std::vector<std::string>> groups;
  for (int query = 0; query < 4; ++query) {
    sqlite3_stmt* statement = nullptr;
    if (sqlite3_prepare_v2(db_, kQueries[query], -1, &statement, nullptr) != SQLITE_OK) {
      *error = sqlite3_errmsg(db_);
      return false;
    }
    int rc;
    while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
      if (query == 0) groups[ColumnText(statement, 0)];
      if (query == 1) groups[ColumnText(statement, 0)].push_back(ColumnText(statement, 1));
      if (query == 2) {
        snapshot_.trainers.push_back(
            {ColumnText(statement, 0), ColumnText(statement, 1), ColumnText(statement, 2),
             sqlite3_column_int(statement, 3) != 0, ColumnOptional(statement, 4)});
      }
      if (query == 3) {
        snapshot_.encounters.push_back(
            {ColumnText(statement, 0), ColumnText(statement, 1), ColumnOptional(statement, 2)});
      }
    }
    if (rc != SQLITE_DONE) *error = sqlite3_errmsg(db_);
    sqlite3_finalize(statement);
    if (rc != SQLITE_DONE) return false;
  }
  for (auto& [id, members] : groups) snapshot_.groups.push_back({id, std::move(members)});
  return true;
}

StoreSnapshot Store::TakeSnapshot() { return std::exchange(snapshot_, StoreSnapshot{}); }

bool Store::Exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) == SQLITE_OK) return true;
  last_error_ = message ? message : sqlite3_errmsg(db_);
  sqlite3_free(message);
  return false;
}

bool Store::Begin() {
  if (Exec("BEGIN IMMEDIATE")) return true;
  ++write_errors_;
  return false;
}

bool Store::Commit() {
  if (!Exec("COMMIT")) return Fail();
  ++write_count_;
  return true;
}

bool Store::Fail() {
  ++write_errors_;
  std::string cause = last_error_;
  Exec("ROLLBACK");
  last_error_ = cause;
  return false;
}

// Runs a bound statement to completion and resets it for the next use.
bool Store::Step(sqlite3_stmt* statement) {
  int rc = sqlite3_step(statement);
  if (rc != SQLITE_DONE) last_error_ = sqlite3_errmsg(db_);
  sqlite3_reset(statement);
  sqlite3_clear_bindings(statement);
  return rc == SQLITE_DONE;
}

bool Store::Attempt(const std::function<bool()>& write) {
  // Once something is unsaved the file is known to be in trouble: a lock
  // still held fails at once, and the next retry comes soon enough.
  bool wait = unsaved_.empty();
  if (!wait) sqlite3_busy_timeout(db_, 0);
  bool committed = write();
  if (!wait) sqlite3_busy_timeout(db_, busy_timeout_ms_);
  return committed;
}

bool Store::RetryUnsaved() {
  for (auto it = unsaved_.begin(); it != unsaved_.end();) {
    it = Attempt(it->second) ? unsaved_.erase(it) : std::next(it);
  }
  return unsaved_.empty();
}

void Store::Write(Table table, std::string_view id, std::function<bool()> write) {
  RetryUnsaved();
  bool saved = Attempt(write);
  auto key = std::make_pair(table, std::string(id));
  if (saved) {
    unsaved_.erase(key);  // superseded
  } else {
    unsaved_.insert_or_assign(std::move(key), std::move(write));
  }
}

void Store::SaveGroup(const StoredGroup& group) {
  Write(Table::kGroups, group.id, [this, group] { return WriteGroup(group); });
}

void Store::DeleteGroup(std::string_view id) {
  Write(Table::kGroups, id, [this, id = std::string(id)] { return WriteGroupDeletion(id); });
}

void Store::SaveTrainer(const StoredTrainer& trainer) {
  Write(Table::kTrainers, trainer.id, [this, trainer] { return WriteTrainer(trainer); });
}

void Store::DeleteTrainer(std::string_view id) {
  Write(Table::kTrainers, id, [this, id = std::string(id)] { return WriteTrainerDeletion(id); });
}

void Store::SaveEncounter(const StoredEncounter& encounter) {
  Write(Table::kEncounters, encounter.id, [this, encounter] { return WriteEncounter(encounter); });
}

void Store::DeleteEncounter(std::string_view id) {
  Write(Table::kEncounters, id,
        [this, id = std::string(id)] { return WriteEncounterDeletion(id); });
}

bool Store::WriteGroup(const StoredGroup& group) {
  if (!Begin()) return false;
  Bind(insert_group_, 1, group.id);
  Bind(delete_group_members_, 1, group.id);
  bool ok = Step(insert_group_) && Step(delete_group_members_);
  for (std::size_t i = 0; ok && i < group.members.size(); ++i) {
    Bind(insert_member_, 1, group.id);
    Bind(insert_member_, 2, group.members[i]);
    ok = Step(insert_member_);
  }
  return ok ? Commit() : Fail();
}

bool Store::WriteGroupDeletion(const std::string& id) {
  if (!Begin()) return false;
  Bind(delete_group_, 1, id);
  Bind(delete_group_members_, 1, id);
  bool ok = Step(delete_group_) && Step(delete_group_members_);
  return ok ? Commit() : Fail();
}

bool Store::WriteTrainer(const StoredTrainer& trainer) {
  if (!Begin()) return false;
  Bind(upsert_trainer_, 1, trainer.id);
  Bind(upsert_trainer_, 2, trainer.region);
  Bind(upsert_trainer_, 3, trainer.owner);
  sqlite3_bind_int(upsert_trainer_, 4, trainer.npc ? 1 : 0);
  BindOptional(upsert_trainer_, 5, trainer.deleted_at_ms);
  return Step(upsert_trainer_) ? Commit() : Fail();
}

bool Store::WriteTrainerDeletion(const std::string& id) {
  if (!Begin()) return false;
  Bind(delete_trainer_, 1, id);
  return Step(delete_trainer_) ? Commit() : Fail();
}

bool Store::WriteEncounter(const StoredEncounter& encounter) {
  if (!Begin()) return false;
  Bind(upsert_encounter_, 1, encounter.id);
  Bind(upsert_encounter_, 2, encounter.region);
  BindOptional(upsert_encounter_, 3, encounter.deleted_at_ms);
  return Step(upsert_encounter_) ? Commit() : Fail();
}

bool Store::WriteEncounterDeletion(const std::string& id) {
  if (!Begin()) return false;
  Bind(delete_encounter_, 1, id);
  return Step(delete_encounter_) ? Commit() : Fail();
}

}  // namespace herald::membership
