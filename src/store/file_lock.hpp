// FileLock: an exclusive advisory lock (flock) on `<path>`, held for this object's life. The
// history hands out message ids from its own memory, so two servers on one database file
// would give two messages the same id: the second server must refuse to start instead.
// The kernel drops the lock when the process dies, so a crash (even SIGKILL) never leaves a
// stale lock behind. The holder may keep a short record in the file (read(), write()).
// Account commands (`huddle user|group`) do not take it: they may run
// beside the server.
#pragma once

#include <string>

namespace huddle::store {

class FileLock {
public:
  // Creates the file if missing. Throws std::runtime_error naming it when another process
  // (or another FileLock in this one) holds the lock, or the file cannot be opened.
  explicit FileLock(const std::string& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  // The file's content: a short record the holder keeps there (store/continuity.hpp).
  std::string read() const;
  // Replaces the content; throws std::runtime_error when it cannot be written.
  void write(const std::string& content);

private:
  int fd_ = -1;
};

} // namespace huddle::store
