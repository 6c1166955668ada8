#include "store/continuity.hpp"

#include "store/sqlite.hpp"

namespace huddle::store {

namespace {

std::string new_epoch(sqlite3* db) {
  Statement random(db, "SELECT lower(hex(randomblob(8)))");
  random.next();
  return random.text(0);
}

} // namespace

Continuity begin_run(sqlite3* db, FileLock* lock, std::int64_t unsettled_bound) {
  Transaction transaction(db);
  Statement state(db, "SELECT epoch, boot, running, id_floor, unsettled_bound FROM history_state");
  if (!state.next()) throw std::runtime_error("history_state has no row");
  Continuity result;
  result.epoch = state.text(0);
  const std::int64_t boot = state.integer(1);
  const bool was_running = state.integer(2) != 0;
  result.id_floor = state.integer(3);
  const std::int64_t jump = state.integer(4);

  if (was_running) {
    Statement burn(db, "UPDATE groups SET last_id = last_id + ?");
    burn.bind(1, jump).run();
    result.id_floor += jump;
    result.broken_because = "the last server on this file did not stop cleanly; ids moved " +
                            std::to_string(jump) + " past what it may have handed out";
  } else if (lock && boot > 0) {
    const std::string recorded = lock->read();
    if (recorded != result.epoch + " " + std::to_string(boot))
      result.broken_because = recorded.empty() ? "no record of this file's last run beside it"
                                               : "the file is not the one the last server "
                                                 "here left (restored or replaced)";
  }
  if (!result.broken_because.empty()) result.epoch = new_epoch(db);

  Statement update(db, "UPDATE history_state SET epoch = ?, boot = ?, running = 1,"
                       " id_floor = ?, unsettled_bound = ?");
  update.bind(1, result.epoch).bind(2, boot + 1).bind(3, result.id_floor);
  update.bind(4, unsettled_bound).run();
  transaction.commit();
  // After the commit: should the process die in between, the next start finds a record that
  // does not match and changes the epoch, which is the safe side.
  if (lock) lock->write(result.epoch + " " + std::to_string(boot + 1));
  return result;
}

void end_run(sqlite3* db) {
  exec(db, "UPDATE history_state SET running = 0");
}

} // namespace huddle::store
