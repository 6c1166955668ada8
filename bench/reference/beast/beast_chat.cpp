// Reference chat server for `scripts/bench --compare`: the smallest server on huddle's
// own stack (Boost Asio C++20 coroutines + Beast) that speaks the bench's scheme.
// GET /ws/{group} joins a group; each text a member sends goes, as is, to every other
// member. No protocol envelope, accounts, history or limits: what it costs is the floor
// the stack sets under huddle (idle memory per connection above all). One thread.
// Usage: beast_chat [port] [host]  (port 0 = ephemeral); prints "listening on HOST:PORT"
// on stdout once bound, like `huddle serve`.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/stream.hpp>

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

struct Session {
  explicit Session(tcp::socket socket) : ws(std::move(socket)) {}
  websocket::stream<tcp::socket> ws;
  std::deque<std::shared_ptr<const std::string>> queue;
  bool writing = false;
};

using SessionPtr = std::shared_ptr<Session>;
std::map<std::uint64_t, std::set<SessionPtr>> groups;

std::optional<std::uint64_t> parse_group(std::string_view target) {
  constexpr std::string_view prefix = "/ws/";
  if (!target.starts_with(prefix)) return std::nullopt;
  target.remove_prefix(prefix.size());
  target = target.substr(0, target.find('?'));
  std::uint64_t group = 0;
  auto const [end, ec] = std::from_chars(target.data(), target.data() + target.size(), group);
  if (target.empty() || ec != std::errc{} || end != target.data() + target.size())
    return std::nullopt;
  return group;
}

// A writer exists only while frames are queued, so an idle connection has one coroutine.
asio::awaitable<void> drain(SessionPtr session) {
  while (!session->queue.empty()) {
    auto const frame = session->queue.front();
    auto [ec, bytes] = co_await session->ws.async_write(asio::buffer(*frame), use_tuple);
    if (ec) {
      session->queue.clear();
      break;
    }
    session->queue.pop_front();
  }
  session->writing = false;
}

void send(SessionPtr const& session, std::shared_ptr<const std::string> const& frame) {
  session->queue.push_back(frame);
  if (session->writing) return;
  session->writing = true;
  asio::co_spawn(session->ws.get_executor(), drain(session), asio::detached);
}

// Reads the upgrade request in its own frame, so its buffer and headers end with it.
asio::awaitable<SessionPtr> upgrade(tcp::socket socket, std::uint64_t& group) {
  beast::flat_buffer buffer;
  http::request<http::string_body> request;
  auto [read_ec, bytes] = co_await http::async_read(socket, buffer, request, use_tuple);
  if (read_ec) co_return nullptr;
  auto const parsed = parse_group(request.target());
  if (!parsed || !websocket::is_upgrade(request)) {
    http::response<http::empty_body> response{http::status::bad_request, request.version()};
    response.keep_alive(false);
    co_await http::async_write(socket, response, use_tuple);
    co_return nullptr;
  }
  group = *parsed;
  auto session = std::make_shared<Session>(std::move(socket));
  auto [accept_ec] = co_await session->ws.async_accept(request, use_tuple);
  if (accept_ec) co_return nullptr;
  co_return session;
}

asio::awaitable<void> run_session(tcp::socket socket) {
  boost::system::error_code ignored;
  // Without TCP_NODELAY small frames wait on delayed ACKs; every server compared disables it.
  socket.set_option(tcp::no_delay(true), ignored);
  std::uint64_t group = 0;
  SessionPtr const session = co_await upgrade(std::move(socket), group);
  if (!session) co_return;
  groups[group].insert(session);

  beast::flat_buffer buffer;
  for (;;) {
    auto [ec, bytes] = co_await session->ws.async_read(buffer, use_tuple);
    if (ec) break;
    auto const frame = std::make_shared<const std::string>(beast::buffers_to_string(buffer.data()));
    buffer.consume(bytes);
    for (auto const& member : groups[group])
      if (member != session) send(member, frame);
  }
  auto members = groups.find(group);
  members->second.erase(session);
  if (members->second.empty()) groups.erase(members);
}

asio::awaitable<void> accept_loop(tcp::acceptor acceptor) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec) continue; // e.g. out of descriptors: the next accept may succeed
    asio::co_spawn(acceptor.get_executor(), run_session(std::move(socket)), asio::detached);
  }
}

} // namespace

int main(int argc, char** argv) {
  auto const port = static_cast<unsigned short>(argc > 1 ? std::atoi(argv[1]) : 0);
  std::string const host = argc > 2 ? argv[2] : "127.0.0.1";
  try {
    asio::io_context io(1);
    tcp::acceptor acceptor(io);
    tcp::endpoint const endpoint(asio::ip::make_address(host), port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen(4096);
    auto const local = acceptor.local_endpoint();
    std::printf("listening on %s:%u\n", local.address().to_string().c_str(),
                static_cast<unsigned>(local.port()));
    std::fflush(stdout);
    asio::co_spawn(io, accept_loop(std::move(acceptor)), asio::detached);
    io.run();
  } catch (std::exception const& error) {
    std::fprintf(stderr, "beast_chat: %s\n", error.what());
    return 1;
  }
  return 0;
}
