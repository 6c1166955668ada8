// The schema of huddle's one SQLite file: the history (HistoryStore) and the accounts
// (AccountStore) share it and its single table schema_version, so the migrations of both
// form one ordered list, in schema.cpp. Whichever store opens the file first brings it to
// k_schema_version; every step is its own transaction, so two processes opening an old
// file at once cannot both apply one.
#pragma once

#include <huddle/logger.hpp>

#include <sqlite3.h>

#include <string>

namespace huddle::store {

// The version this build writes: 1 history (messages, groups), 2 accounts (users,
// chat_groups, memberships, access_revision), 3 history_state (store/continuity.hpp).
inline constexpr int k_schema_version = 3;

// Brings the database behind `db` to k_schema_version. Throws std::runtime_error naming
// `path` when a step fails or the file is newer than this build (it would misread it).
// A migration of an existing file is logged at info.
void migrate(sqlite3* db, const std::string& path, Logger& logger);

} // namespace huddle::store
