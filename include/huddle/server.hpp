// Server: huddle's HTTP + WebSocket chat server, runnable on an application's io_context.
//
//   boost::asio::io_context io;
//   huddle::Server server(io.get_executor(), config);   // binds and listens here (throws)
//   co_spawn(io, server.run(), boost::asio::detached);
//   ... server.stop();                                   // from any thread
//
// run() accepts connections until stop(); it completes once every session has ended.
// stop() closes the listener and every WebSocket with 1001 "server shutdown" after the
// frames already queued for it are written. The ChatManager is safe from any thread.
// This header holds no Beast type; the implementation lives in src/net/.
//
// Two thread models (docs/architecture.md, "Threads", has the measurements):
// - One executor: everything runs there, and the io_context may be run by any number of
//   threads; each connection gets a strand of its own on it.
// - An io_context pool, as `huddle serve --threads N` runs it: one io_context per thread,
//
//     std::vector<std::unique_ptr<boost::asio::io_context>> pool;  // each run by one thread
//     std::vector<boost::asio::any_io_executor> executors;         // pool[i]->get_executor()
//     huddle::Server server(executors, config);
//     co_spawn(*pool[0], server.run(), boost::asio::detached);
//
//   Accepted connections are spread round-robin over the executors for their HTTP
//   requests; at the WebSocket upgrade the socket moves to the executor of its group
//   (group id modulo the number of executors), so a group's sessions share one and a
//   broadcast wakes writers on its own thread. A connection runs on its executor without
//   a strand, so every executor must run one handler at a time: an io_context run by one
//   thread (or a strand). The accept loop, the revocation watcher, the timeout sweep, the
//   broker's run() and run() itself run on the first one.
#pragma once

#include <huddle/chat_manager.hpp>
#include <huddle/server_config.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace huddle {

// Why Server::publish() failed once its arguments were accepted.
class PublishFailed : public std::runtime_error {
public:
  enum class Reason {
    history_unavailable, // the history cannot take more now (history_queue_limit): not sent
    broker_unavailable,  // Redis cannot be reached (broker_url): not sent
    not_stored,          // sent to the members, but not stored within handshake_timeout
  };
  PublishFailed(Reason reason, const std::string& what)
      : std::runtime_error(what), reason_(reason) {}
  Reason reason() const noexcept { return reason_; }
  // Whether the members got it: sending it again would show it to them twice.
  bool sent() const noexcept { return reason_ == Reason::not_stored; }

private:
  Reason reason_;
};

class Server {
public:
  // Opens the history and accounts (config.db_path) and binds config.address:config.port.
  // Throws boost::system::system_error when the address cannot be resolved or bound (e.g.
  // the port is in use), std::runtime_error when the database or a key file cannot be
  // opened, std::invalid_argument for access settings that cannot work (AuthMode::none off
  // loopback without allow_anonymous_on_network, jwt without a key).
  Server(boost::asio::any_io_executor executor, ServerConfig config);
  // The io_context pool (see above); `executors` must not be empty (std::invalid_argument).
  Server(std::vector<boost::asio::any_io_executor> executors, ServerConfig config);
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Accepts until stop(), then waits for the open sessions to finish. After a stop() that
  // came first it completes at once.
  boost::asio::awaitable<void> run();

  // Thread-safe and idempotent.
  void stop();

  // The bound port; useful with config.port = 0 (an ephemeral port).
  std::uint16_t port() const noexcept;

  // With TLS (ServerConfig::tls_certificate_file): reads the certificate and key files again
  // for the connections accepted from now on; open connections keep theirs. Thread-safe.
  // Throws std::runtime_error, and keeps the old ones, when the files cannot be loaded;
  // std::logic_error when the server has no TLS.
  void reload_tls();

  // Sends `text` into `group` from `sender`, as the group's members see a member's message:
  // the group's next id, in the history, to every member (on every node, with broker_url),
  // as POST /api/groups/{id}/messages does. Completes with the id once the history has the
  // message. Any thread; the awaiting coroutine may run on any executor. Throws
  // std::invalid_argument, sending nothing, when `sender` is not a user name (1-32 printable
  // characters) or `text` is empty, over max_message_bytes or not UTF-8; PublishFailed
  // otherwise.
  boost::asio::awaitable<MessageId> publish(GroupId group, std::string sender, std::string text);

  // Open WebSocket sessions right now.
  std::size_t session_count() const noexcept;

  // The members connected to this server. With ServerConfig::broker_url (several nodes), ids
  // come from Redis and this manager only delivers them: its broadcast() throws
  // std::logic_error. publish() (above) sends into a group on one node or several.
  ChatManager& chat() noexcept;

private:
  void listen(); // binds and listens (the constructors' common part)

  struct Impl;
  std::shared_ptr<Impl> impl_;
};

} // namespace huddle
