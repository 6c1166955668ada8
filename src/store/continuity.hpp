// Continuity: what a history file can vouch for when a server starts on it, and the steps
// that keep message ids from ever naming two messages (docs/architecture.md, "Message ids").
//
// Messages reach their recipients before the group commit stores them, so a process that
// dies (SIGKILL, a power cut with --durability sync) may have handed out ids the file never
// saw. The store holds at most `unsettled_bound` messages uncommitted at any moment
// (MessageLog::try_reserve()), so no group can have handed out more than that many ids
// beyond what the file has. begin_run() therefore, after a run that did not end with
// end_run(), moves every group's last id (and the floor that groups absent from the file
// start at) forward by the bound the crashed run used: those ids stay burnt.
//
// The epoch changes whenever the file cannot vouch that what clients saw is still there:
// after an unclean stop (a backup taken while running looks exactly like one), or when the
// file is not the one the last server on this path left (a restore or a replacement:
// the lock file beside it records the epoch and run of the last start). A new file has a
// new epoch of its own.
#pragma once

#include "store/file_lock.hpp"

#include <huddle/message.hpp>

#include <sqlite3.h>

#include <cstdint>
#include <string>

namespace huddle::store {

struct Continuity {
  std::string epoch;
  // The last id of a group the file has no row for.
  MessageId id_floor = 0;
  // Why the epoch changed at this start ("" when it did not): for the log.
  std::string broken_because;
};

// Marks the file as running and returns its continuity. `lock` (null for an in-memory
// database) is the file's lock, whose content records the run. Throws on a database error.
Continuity begin_run(sqlite3* db, FileLock* lock, std::int64_t unsettled_bound);

// Marks a run as ended cleanly: every id it handed out is committed. Call only then.
void end_run(sqlite3* db);

} // namespace huddle::store
