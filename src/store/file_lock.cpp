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

std::string FileLock::read() const {
  std::string content;
  char buffer[256];
  for (off_t offset = 0;;) {
    const ssize_t n = ::pread(fd_, buffer, sizeof buffer, offset);
    if (n <= 0) break;
    content.append(buffer, static_cast<std::size_t>(n));
    offset += n;
    if (content.size() > 4096) break; // a record is a line; anything longer is not ours
  }
  while (!content.empty() && (content.back() == '\n' || content.back() == '\r'))
    content.pop_back();
  return content;
}

void FileLock::write(const std::string& content) {
  const std::string line = content + "\n";
  if (::ftruncate(fd_, 0) != 0 ||
      ::pwrite(fd_, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size()))
    throw std::runtime_error(std::string("cannot write the lock file: ") + std::strerror(errno));
}

FileLock::~FileLock() {
  ::close(fd_); // releases the lock
}

} // namespace huddle::store
