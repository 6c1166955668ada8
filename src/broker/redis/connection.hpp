// Connection: one connection to a Redis server, kept up for as long as it runs, carrying
// pipelined commands from any number of coroutines on any threads (issue 12, "Implementation").
//
//   auto redis = Connection::create(executor, {.endpoint = parse_url("redis://127.0.0.1")});
//   co_spawn(executor, redis->run(), detached);        // connects, and reconnects until stop()
//   auto [ec, reply] = co_await redis->execute({"INCR", "huddle:seq:7"});
//
// Threads: the connection lives on a strand of its own (the socket, the queue of commands
// awaiting replies, the write buffer); execute() may be called from any thread and resumes
// its caller on the caller's own executor. stop() and connected() are thread-safe; the hooks
// are set before run() and then called on the strand.
//
// Order: commands are written in the order execute() calls reach the strand, and each is
// answered by the reply in that place, so one coroutine's commands are answered in the
// order it issued them. Commands issued while a write is in progress go out together in the
// next write (pipelining; Redis answers them in order).
//
// Failures are error codes (error.hpp), never exceptions: a command fails with not_connected
// while the connection is down, connection_lost when it breaks before the reply, timeout
// when no reply came within command_timeout (the connection is then dropped and made again:
// a reply that late means the pipeline cannot be trusted), stopped after stop(). A command
// that fails may or may not have been executed by Redis. An error reply from Redis (-ERR ...)
// is a Reply, not a failure.
//
// Subscriber connections (ConnectionConfig::subscriber) carry SUBSCRIBE and friends, PING,
// and the publications Redis pushes, which go to on_push(); nothing else should be sent on
// them (a reply that looks like a publication would be taken for one).
//
// Logs through core/log.hpp: info when connected or lost (with the reason), warning for the
// first failed attempt in a row and debug for the retries, error when Redis refuses the
// handshake (AUTH, SELECT, CLIENT SETNAME); never the password.
#pragma once

#include <huddle/logger.hpp>

#include "broker/redis/error.hpp"
#include "broker/redis/protocol.hpp"
#include "broker/redis/reply.hpp"
#include "broker/redis/url.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/error_code.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

namespace huddle::broker::redis {

struct ConnectionConfig {
  Endpoint endpoint;
  std::string user;     // ACL user ("": AUTH with the password alone, when there is one)
  std::string password; // "": no AUTH
  std::chrono::milliseconds connect_timeout{2'000}; // TCP connect + AUTH/SELECT/SETNAME
  std::chrono::milliseconds command_timeout{
      2'000};              // a reply that takes longer breaks the connection
  std::string client_name; // CLIENT SETNAME when not empty (operators see nodes in CLIENT LIST)
  bool subscriber = false; // a pub/sub connection: see Connection::on_push
  // A PING when the server has sent nothing for this long (0: never), so that a server that
  // went silent without closing the connection is noticed (by command_timeout) on a connection
  // that has no command in flight, such as a subscriber's.
  std::chrono::milliseconds health_check_interval{5'000};
  // Connects, disconnects and failed connection hooks (null: core::log::or_default()).
  std::shared_ptr<Logger> logger;
};

namespace detail {
// One execute()/execute_all() call waiting for its replies (connection.cpp).
struct PendingCall {
  virtual ~PendingCall() = default;
  // Resumes the caller on its executor with `ec` (and no replies), or with `replies`.
  virtual void complete(boost::system::error_code ec) = 0;
  std::vector<Reply> replies;
};
} // namespace detail

class Connection : public std::enable_shared_from_this<Connection> {
public:
  // Throws std::invalid_argument for a config that cannot work (a timeout not above zero, a
  // client name Redis refuses: empty is fine, spaces and control characters are not).
  static std::shared_ptr<Connection> create(boost::asio::any_io_executor executor,
                                            ConnectionConfig config);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Connects, authenticates (AUTH [user] password), SELECTs the db, sets the client name,
  // calls the on_connect hook, then reads replies until the connection breaks; then fails
  // every pending command, calls on_disconnect, waits (backoff 100 ms doubling to 5 s, reset
  // after a connection that lasted 5 s), and connects again; until stop(). Completes after
  // stop(), or when cancelled (which stops the connection). Call it once (std::logic_error for
  // a second call).
  boost::asio::awaitable<void> run();
  // Thread-safe, idempotent. Commands pending then, and issued after, fail with `stopped`.
  void stop();
  // Handshake done and not broken (the on_connect hook may still be running).
  bool connected() const noexcept { return connected_.load(std::memory_order_acquire); }

  // Sends one command, pipelined with every other in flight, and returns its reply. Commands
  // issued during the handshake wait for it (and for the on_connect hook), then go out.
  boost::asio::awaitable<std::tuple<boost::system::error_code, Reply>> execute(Command command);
  // Several commands in one write; one reply per command, in order (none on failure). A
  // MULTI ... EXEC block sent this way is not interleaved with other callers' commands.
  boost::asio::awaitable<std::tuple<boost::system::error_code, std::vector<Reply>>>
  execute_all(std::vector<Command> commands);

  // Subscriber connections: a publication (["message", channel, payload], or "pmessage" /
  // "smessage") goes to this handler on the connection's strand, in the order Redis sent them
  // (the views are valid during the call); it must not block or throw (a throw drops the
  // connection). Every other reply answers the
  // oldest pending command: (P|S)SUBSCRIBE and (P|S)UNSUBSCRIBE with N channels are answered by
  // their last confirmation (["subscribe", channel, count]), an error reply ending them early.
  void on_push(std::function<void(std::string_view channel, std::string_view payload)> handler);
  // Called on the connection's strand after each (re)connect's handshake, before the commands
  // issued during the handshake are sent; the hook itself may call execute() (e.g. to
  // resubscribe). It should return once a command of its fails. An exception from it is logged
  // and drops the connection (to be made again after the backoff).
  void on_connect(std::function<boost::asio::awaitable<void>()> hook);
  // Called on the connection's strand once a connection that had completed its handshake is
  // down, after its pending commands failed.
  void on_disconnect(std::function<void()> hook);

private:
  using Clock = std::chrono::steady_clock;
  // idle: run() not started. connecting: TCP connect and handshake. hooking: the on_connect
  // hook runs (its commands go out; others issued during the handshake wait). ready: every
  // command goes out. down: between attempts, and after stop().
  enum class State { idle, connecting, hooking, ready, down };
  // How an attempt to connect ended. refused: Redis answered the handshake with an error.
  struct Attempt {
    bool ok = false;
    bool refused = false;
    std::string why;
  };
  // One command on the wire, awaiting its reply. A call's commands are consecutive; its last
  // command owns the call and completes it.
  struct Entry {
    detail::PendingCall* call;
    std::unique_ptr<detail::PendingCall> owner;
    std::uint32_t replies_left; // or k_until_pong
    Clock::time_point deadline;
    Reply reply; // the latest of its replies
  };
  // A call issued during the handshake, sent once the on_connect hook is done.
  struct Held {
    std::unique_ptr<detail::PendingCall> call;
    std::vector<Command> commands;
  };

  Connection(boost::asio::any_io_executor executor, ConnectionConfig config);

  bool live() const noexcept { return state_ == State::hooking || state_ == State::ready; }
  void submit(std::unique_ptr<detail::PendingCall> call, std::vector<Command> commands);
  void enqueue(std::unique_ptr<detail::PendingCall> call, const std::vector<Command>& commands);
  bool take_reply(Reply reply);
  void break_connection(error cause, std::string reason);
  void fail_held(error cause);
  void interrupt();

  boost::asio::awaitable<void> supervise();
  boost::asio::awaitable<Attempt> connect();
  boost::asio::awaitable<Attempt> handshake();
  boost::asio::awaitable<void> read_replies();
  boost::asio::awaitable<void> write_commands();
  boost::asio::awaitable<void> watch_deadlines();
  boost::asio::awaitable<void> after_connect();

  const ConnectionConfig config_;
  const std::shared_ptr<Logger> logger_; // config_.logger, or the default
  const std::string where_;              // "HOST:PORT[/DB]", for the log
  boost::asio::strand<boost::asio::any_io_executor> strand_;
  std::atomic<bool> started_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<bool> connected_{false};

  // Hooks, set before run().
  std::function<void(std::string_view, std::string_view)> push_handler_;
  std::function<boost::asio::awaitable<void>()> connect_hook_;
  std::function<void()> disconnect_hook_;

  // The rest only on the strand.
  State state_ = State::idle;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer connect_timer_;  // connect_timeout of the current attempt
  boost::asio::steady_timer backoff_timer_;  // the pause between attempts
  boost::asio::steady_timer write_signal_;   // the writer sleeps on it; cancel() wakes it
  boost::asio::steady_timer deadline_timer_; // the oldest pending command's deadline, or the
                                             // next health check
  std::uint64_t attempt_ = 0;
  Clock::time_point last_read_; // when the server last sent something
  bool connect_timed_out_ = false;
  std::string break_reason_;
  ReplyReader reader_;
  std::vector<char> read_buffer_;
  std::string queued_;  // commands not yet written
  std::string writing_; // the write in progress
  std::deque<Entry> entries_;
  std::vector<Held> held_;
};

} // namespace huddle::broker::redis
