// SequenceSet: which sequence numbers of one sender a receiver has seen, as sorted,
// disjoint, non-adjacent ranges [lo, hi).
//
// It lets the accounting deduplicate by (sender, sequence number) without requiring
// order: a sender that reconnects may have its last message on the old connection
// broadcast after its first on the new one, and a replay (?since=) may overlap what was
// live. In-order arrival, the common case, extends the last range in O(1); a gap costs
// one range until it is filled. Not thread-safe: one receiver's thread uses it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace huddle::load {

class SequenceSet {
public:
  // Adds `seq`; false when it was already there (a duplicate).
  bool insert(std::uint64_t seq);
  bool contains(std::uint64_t seq) const noexcept;
  // How many of [lo, hi) are in the set.
  std::uint64_t count_in(std::uint64_t lo, std::uint64_t hi) const noexcept;
  // One past the highest sequence number seen; 0 when empty.
  std::uint64_t end() const noexcept { return ranges_.empty() ? 0 : ranges_.back().hi; }
  std::size_t ranges() const noexcept { return ranges_.size(); }
  bool empty() const noexcept { return ranges_.empty(); }
  void clear() noexcept { ranges_.clear(); }

private:
  struct Range {
    std::uint64_t lo;
    std::uint64_t hi;
  };
  std::vector<Range> ranges_;
};

} // namespace huddle::load
