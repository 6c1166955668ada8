// A program of an outside project, as a user of the huddle library writes it: it includes
// only <huddle/...> and Boost.Asio, and builds against an installed huddle (pkg-config, or
// meson's dependency('huddle')) or huddle as a meson subproject (consumer_test.py does each).
// It embeds a Server on port 0 on its own io_context, puts a member of its own type into
// the server's ChatManager, asks the server over a plain TCP socket who is online, sends the
// member a message through the manager, and stops the server. Exit 0 when all of it worked.
#include <huddle/chat_manager.hpp>
#include <huddle/server.hpp>
#include <huddle/version.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace asio = boost::asio;

namespace {

// The app's own connection type: it keeps what it is offered.
class Inbox : public huddle::Member {
public:
  bool offer(const huddle::Frame& frame) noexcept override {
    frames_.push_back(*frame);
    return true;
  }
  const std::string& user() const noexcept override { return user_; }
  const std::vector<std::string>& frames() const { return frames_; }

private:
  std::string user_ = "outside";
  std::vector<std::string> frames_;
};

// The server's whole answer to `GET target`, read until it closes the connection.
asio::awaitable<std::string> http_get(std::uint16_t port, const std::string& target) {
  asio::ip::tcp::socket socket(co_await asio::this_coro::executor);
  co_await socket.async_connect({asio::ip::make_address("127.0.0.1"), port}, asio::use_awaitable);
  const std::string request =
      "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
  std::string answer;
  // Ends with eof once the server closes: the answer is complete.
  co_await asio::async_read(socket, asio::dynamic_buffer(answer),
                            asio::as_tuple(asio::use_awaitable));
  co_return answer;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

asio::awaitable<bool> use(huddle::Server& server) {
  bool ok = true;
  auto expect = [&ok](bool condition, const std::string& what) {
    std::cout << (condition ? "ok   " : "FAIL ") << what << '\n';
    ok = ok && condition;
  };

  const std::string health = co_await http_get(server.port(), "/healthz");
  expect(health.starts_with("HTTP/1.1 200") &&
             contains(health, std::string("\"version\":\"") + huddle::k_version + '"'),
         "GET /healthz answers 200 with huddle's version");

  const huddle::GroupId group = 7;
  auto inbox = std::make_shared<Inbox>();
  const huddle::JoinResult joined = co_await server.chat().connect(group, inbox);
  expect(joined.added, "the app's own member joins group 7");
  const std::string members = co_await http_get(server.port(), "/api/groups/7/members");
  expect(contains(members, "\"members\":[\"outside\"]"),
         "the server lists it online: " + members.substr(members.find("\r\n\r\n") + 4));

  // A named draft: g++ 12 frees a braced temporary in a co_await's arguments twice.
  huddle::MessageDraft draft{"app", "hello from outside", huddle::now_ms()};
  huddle::MessagePtr sent = co_await server.chat().broadcast(group, std::move(draft), nullptr);
  expect(sent != nullptr && sent->id() == 1, "the message gets id 1");
  expect(inbox->frames().size() == 2 && contains(inbox->frames()[0], "\"type\":\"welcome\"") &&
             contains(inbox->frames()[1], "\"text\":\"hello from outside\""),
         "the member got its welcome, then the message");
  expect(co_await server.chat().disconnect(group, *inbox), "the member leaves");
  co_return ok;
}

} // namespace

int main() {
  asio::io_context io;
  huddle::ServerConfig config; // history in memory, AuthMode::none, loopback
  config.port = 0;
  huddle::Server server(io.get_executor(), config);
  asio::co_spawn(io, server.run(), asio::detached);
  bool ok = false;
  asio::co_spawn(io, use(server), [&](std::exception_ptr error, bool result) {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const std::exception& e) {
        std::cout << "FAIL " << e.what() << '\n';
      }
    }
    ok = !error && result;
    server.stop(); // run() completes once every session has ended
  });
  io.run();
  std::cout << (ok ? "consumer ok\n" : "consumer FAILED\n");
  return ok ? 0 : 1;
}
