#include "load/accounting.hpp"

#include <algorithm>

namespace huddle::load {

Accounting::Accounting(std::uint32_t groups, std::uint32_t senders_per_group, bool echo)
    : groups_(groups), senders_per_group_(senders_per_group), echo_(echo),
      senders_(std::make_unique<SenderLedger[]>(std::size_t{groups} * senders_per_group)) {}

Accounting::ReceiverId Accounting::add_receiver(std::uint32_t group,
                                                std::optional<SenderId> own_sender,
                                                bool accountable) {
  ReceiverLedger ledger;
  ledger.group = group;
  ledger.own_sender = own_sender;
  ledger.accountable = accountable;
  ledger.from.resize(senders_per_group_);
  receivers_.push_back(std::move(ledger));
  return static_cast<ReceiverId>(receivers_.size() - 1);
}

std::uint64_t Accounting::claim(SenderId sender) noexcept {
  // Between a claim whose message the server broadcast before registering a receiver and
  // that receiver's ready() lie a socket write, the server and a socket read: system
  // calls that order memory in practice, so the snapshot sees the claim.
  return senders_[sender].next_seq.fetch_add(1, std::memory_order_relaxed);
}

void Accounting::sent(SenderId sender, std::uint64_t seq, std::uint64_t send_ns) noexcept {
  if (!window_.contains(send_ns)) return;
  auto& ledger = senders_[sender];
  ledger.measured_first = std::min(ledger.measured_first, seq);
  ledger.measured_end = std::max(ledger.measured_end, seq + 1);
  ++ledger.measured_sent;
}

void Accounting::withdrawn(SenderId sender, std::uint64_t seq) {
  senders_[sender].withdrawn.push_back(seq);
}

void Accounting::ready(ReceiverId receiver) noexcept {
  auto& ledger = receivers_[receiver];
  ledger.was_ready = true;
  for (std::uint32_t k = 0; k < senders_per_group_; ++k) {
    auto& from = ledger.from[k];
    from.snapshot = senders_[sender_id(ledger.group, k)].next_seq.load(std::memory_order_relaxed);
    // A new membership may see what the old one saw again (history replay).
    from.seen.clear();
  }
}

void Accounting::left(ReceiverId receiver) noexcept {
  receivers_[receiver].accountable = false;
}

Arrival Accounting::arrived(ReceiverId receiver, Marker const& marker) noexcept {
  auto& ledger = receivers_[receiver];
  if (senders_per_group_ == 0 || marker.sender / senders_per_group_ != ledger.group ||
      marker.sender >= groups_ * senders_per_group_) {
    return Arrival::foreign;
  }
  if (!echo_ && ledger.own_sender == marker.sender) return Arrival::unexpected_self;
  auto& from = ledger.from[marker.sender % senders_per_group_];
  if (!from.seen.insert(marker.seq)) {
    ++from.duplicates;
    return Arrival::duplicate;
  }
  if (!window_.contains(marker.send_ns)) return Arrival::unmeasured;
  ++from.delivered;
  return Arrival::counted;
}

Tally Accounting::tally() const noexcept {
  Tally tally;
  for (std::size_t s = 0; s < std::size_t{groups_} * senders_per_group_; ++s) {
    tally.sent += senders_[s].measured_sent;
  }
  for (auto const& ledger : receivers_) {
    for (std::uint32_t k = 0; k < senders_per_group_; ++k) {
      auto const& from = ledger.from[k];
      tally.delivered += from.delivered;
      tally.duplicates += from.duplicates;
      if (!ledger.accountable || !ledger.was_ready) continue;
      SenderId const sender = sender_id(ledger.group, k);
      if (!echo_ && ledger.own_sender == sender) continue;
      auto const& sent = senders_[sender];
      if (sent.measured_end == 0) continue;
      // Sends are sequential, so the measured ones are [measured_first, measured_end)
      // but for the withdrawn; of those, the receiver is owed the ones from its snapshot.
      std::uint64_t const from_seq = std::max(sent.measured_first, from.snapshot);
      if (from_seq >= sent.measured_end) continue;
      std::uint64_t due = sent.measured_end - from_seq;
      std::uint64_t got = from.seen.count_in(from_seq, sent.measured_end);
      // A message whose write failed after reaching the server can still arrive: it is
      // delivered, but owed to nobody.
      auto const first = std::lower_bound(sent.withdrawn.begin(), sent.withdrawn.end(), from_seq);
      auto const last = std::lower_bound(first, sent.withdrawn.end(), sent.measured_end);
      for (auto it = first; it != last; ++it) {
        --due;
        if (from.seen.contains(*it)) --got;
      }
      tally.expected += due;
      tally.delivered_accountable += got;
      tally.lost += due - got;
    }
  }
  return tally;
}

} // namespace huddle::load
