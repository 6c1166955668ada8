#include "load/sequence_set.hpp"

#include <algorithm>
#include <iterator>

namespace huddle::load {

bool SequenceSet::insert(std::uint64_t seq) {
  if (ranges_.empty() || seq > ranges_.back().hi) {
    ranges_.push_back({seq, seq + 1});
    return true;
  }
  if (seq == ranges_.back().hi) { // in order: the common case
    ++ranges_.back().hi;
    return true;
  }
  // The first range starting after seq; the one before it is the only one that can hold it.
  auto next = std::upper_bound(ranges_.begin(), ranges_.end(), seq,
                               [](std::uint64_t s, Range const& r) { return s < r.lo; });
  if (next != ranges_.begin()) {
    auto prev = std::prev(next);
    if (seq < prev->hi) return false;
    if (seq == prev->hi) {
      ++prev->hi;
      if (next != ranges_.end() && next->lo == prev->hi) { // the gap is closed
        prev->hi = next->hi;
        ranges_.erase(next);
      }
      return true;
    }
  }
  if (next != ranges_.end() && next->lo == seq + 1) {
    next->lo = seq;
    return true;
  }
  ranges_.insert(next, Range{seq, seq + 1});
  return true;
}

bool SequenceSet::contains(std::uint64_t seq) const noexcept {
  auto next = std::upper_bound(ranges_.begin(), ranges_.end(), seq,
                               [](std::uint64_t s, Range const& r) { return s < r.lo; });
  return next != ranges_.begin() && seq < std::prev(next)->hi;
}

std::uint64_t SequenceSet::count_in(std::uint64_t lo, std::uint64_t hi) const noexcept {
  std::uint64_t total = 0;
  for (auto const& range : ranges_) {
    std::uint64_t const from = std::max(lo, range.lo);
    std::uint64_t const to = std::min(hi, range.hi);
    if (from < to) total += to - from;
  }
  return total;
}

} // namespace huddle::load
