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

void Accounting::ready(ReceiverId receiver) noexcept {
  auto& ledger = receivers_[receiver];
  ledger.was_ready = true;
  for (std::uint32_t k = 0; k < senders_per_group_; ++k) {
    auto& from = ledger.from[k];
    from.snapshot = senders_[sender_id(ledger.group, k)].next_seq.load(std::memory_order_relaxed);
    // A new membership may see sequence numbers below the old ones' (history replay).
    from.next_seq = 0;
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
  if (marker.seq < from.next_seq) return Arrival::duplicate;
  from.next_seq = marker.seq + 1;
  if (!window_.contains(marker.send_ns)) return Arrival::unmeasured;
  ++from.delivered;
  if (marker.seq >= from.snapshot) ++from.accountable;
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
      if (!ledger.accountable || !ledger.was_ready) continue;
      SenderId const sender = sender_id(ledger.group, k);
      if (!echo_ && ledger.own_sender == sender) continue;
      auto const& sent = senders_[sender];
      if (sent.measured_end == 0) continue;
      std::uint64_t const from_seq = std::max(sent.measured_first, from.snapshot);
      std::uint64_t const due = sent.measured_end > from_seq ? sent.measured_end - from_seq : 0;
      // A message whose write failed after reaching the server can still arrive.
      std::uint64_t const got = std::min(from.accountable, due);
      tally.expected += due;
      tally.delivered_accountable += got;
      tally.lost += due - got;
    }
  }
  return tally;
}

} // namespace huddle::load
