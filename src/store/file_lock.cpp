#include "store/file_lock.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <stdexcept>
#include <sys/file.h>
#include <unistd.h>

namespace huddle::store {

FileLock::FileLock(const std::string& path) {
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw std::runtime_error("cannot open lock file \"" + path + "\": " + std::strerror(errno));
  // flock locks belong to the open file description: a second open in this process is
  // refused as well, which is what a second Server on the same file needs.
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    ::close(fd_);
    if (error == EWOULDBLOCK)
      throw std::runtime_error("database lock \"" + path +
                               "\" is held: another huddle server uses this database");
    throw std::runtime_error("cannot lock \"" + path + "\": " + std::strerror(error));
  }
}

FileLock::~FileLock() {
  ::close(fd_); // releases the lock
}

} // namespace huddle::store
