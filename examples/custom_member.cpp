// Using ChatManager with an app's own member type: the manager never sees a socket, only
// huddle::Member. This member prints what it is offered; a real one would queue the frame
// for its transport and return at once (offer() runs under the group's lock).
#include <huddle/chat_manager.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <iostream>
#include <memory>

class PrintingMember : public huddle::Member {
public:
  explicit PrintingMember(std::string user) : user_(std::move(user)) {}

  bool offer(const huddle::Frame& frame) noexcept override {
    std::cout << user_ << " <- " << *frame << '\n';
    ++received_;
    return true;
  }
  const std::string& user() const noexcept override { return user_; }
  int received() const { return received_; }

private:
  std::string user_;
  int received_ = 0;
};

boost::asio::awaitable<bool> chat(huddle::ChatManager& manager) {
  auto alice = std::make_shared<PrintingMember>("alice");
  auto bob = std::make_shared<PrintingMember>("bob");
  const huddle::GroupId group = 42;
  co_await manager.connect(group, alice);
  co_await manager.connect(group, bob);

  huddle::MessageDraft draft{"alice", "hi bob", huddle::now_ms()};
  huddle::MessagePtr sent = co_await manager.broadcast(group, std::move(draft), alice.get());
  std::cout << "message id " << sent->id() << ", members " << co_await manager.member_count(group)
            << '\n';

  co_await manager.disconnect(group, *bob);
  co_await manager.disconnect(group, *alice);
  const std::size_t groups_left = co_await manager.group_count();
  // bob: his welcome and alice's message (the sender is excluded);
  // alice: her welcome, then bob's join and leave.
  co_return groups_left == 0 && bob->received() == 2 && alice->received() == 3;
}

int main() {
  boost::asio::io_context io;
  huddle::ChatManager manager(io.get_executor());
  bool ok = false;
  boost::asio::co_spawn(io, chat(manager),
                        [&](std::exception_ptr error, bool result) { ok = !error && result; });
  io.run();
  std::cout << (ok ? "ok\n" : "unexpected deliveries\n");
  return ok ? 0 : 1;
}
