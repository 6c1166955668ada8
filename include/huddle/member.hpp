// Member: what the ChatManager knows of a connection. The manager never touches a socket;
// a transport (huddle's WebSocket session, or an embedding app's own type) implements
// this interface, and unit tests use fakes.
#pragma once

#include <huddle/message.hpp>

#include <string>

namespace huddle {

class Member {
public:
  virtual ~Member() = default;

  // Queues `frame` for this member and returns at once; it must never wait for I/O,
  // because the manager calls it while holding the group's lock (from any thread).
  // Returns false when the member takes nothing more: it is closed, or the frame would
  // exceed its send limit (it then closes itself, e.g. with 1008 "slow consumer").
  // The manager removes a member whose offer failed and never offers to it again.
  virtual bool offer(const Frame& frame) noexcept = 0;

  // The user this member speaks for. Presence counts users, not connections: a user
  // with two connections in a group is online once.
  virtual const std::string& user() const noexcept = 0;
};

} // namespace huddle
