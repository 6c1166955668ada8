#include "core/send_queue.hpp"

namespace huddle::core {

SendQueue::Push SendQueue::push(Frame frame) {
  std::lock_guard lock(mutex_);
  if (closed_) return Push::closed;
  const std::size_t size = frame->size();
  if (bytes_ != 0 && bytes_ + size > byte_limit_) {
    closed_ = overflowed_ = true;
    frames_.clear(); // nobody will write them: free the shared payloads now
    return Push::overflow;
  }
  const bool was_under_threshold = bytes_ <= flush_bytes_;
  bytes_ += size;
  frames_.push_back(std::move(frame));
  if (was_under_threshold && bytes_ > flush_bytes_) return Push::flush_due;
  return frames_.size() == 1 ? Push::queued_first : Push::queued;
}

SendQueue::State SendQueue::take(std::vector<Frame>& out) {
  out.clear();
  std::lock_guard lock(mutex_);
  out.swap(frames_);
  return State{closed_, overflowed_};
}

void SendQueue::written(std::size_t bytes) {
  std::lock_guard lock(mutex_);
  bytes_ -= bytes < bytes_ ? bytes : bytes_;
}

void SendQueue::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
}

bool SendQueue::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

bool SendQueue::urgent() const {
  std::lock_guard lock(mutex_);
  return closed_ || bytes_ > flush_bytes_;
}

bool SendQueue::overflowed() const {
  std::lock_guard lock(mutex_);
  return overflowed_;
}

std::size_t SendQueue::queued_bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

} // namespace huddle::core
