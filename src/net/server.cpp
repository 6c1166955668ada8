#include <huddle/server.hpp>

#include "core/log.hpp"
#include "net/frame_reader.hpp"
#include "net/listener.hpp"
#include "net/publish.hpp"
#include "net/server_state.hpp"
#include "net/target.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <stdexcept>

namespace huddle {

namespace asio = boost::asio;
using asio::ip::tcp;

struct Server::Impl {
  Impl(net::ConnectionExecutors executors, ServerConfig config)
      : state(std::make_shared<net::ServerState>(executors.executors.front(), std::move(config))),
        acceptor(asio::make_strand(executors.executors.front())),
        connections(std::move(executors)) {
    if (!connections.strand_per_connection) state->set_group_executors(connections.executors);
  }

  std::shared_ptr<net::ServerState> state;
  tcp::acceptor acceptor; // on its own strand: stop() may come from any thread
  net::ConnectionExecutors connections;
};

namespace {

tcp::endpoint resolve(asio::any_io_executor executor, const ServerConfig& config) {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(config.address, ec);
  if (!ec) return {address, config.port};
  tcp::resolver resolver(executor);
  auto results =
      resolver.resolve(config.address, std::to_string(config.port), tcp::resolver::passive, ec);
  if (ec || results.empty())
    throw boost::system::system_error(ec ? ec : asio::error::host_not_found,
                                      "cannot resolve address \"" + config.address + "\"");
  return results.begin()->endpoint();
}

// Accepts until stop(); once every session has ended, runs what waits for storage and stops
// the broker (sessions leave through it, so it runs until then).
asio::awaitable<void> accept_then_drain(asio::awaitable<void> accept_loop,
                                        std::shared_ptr<net::ServerState> state) {
  co_await std::move(accept_loop);
  co_await state->wait_drained();
  // A message's ack callback holds its session until the store has run it, on the store's
  // thread. Run them all now, while the executors live: a session released there after
  // the application destroyed its io_context would close its socket on a dead reactor.
  // A database that keeps failing is given the shutdown timeout, then its batch is dropped
  // (the store logs how many messages): stopping never hangs on a broken disk.
  if (!state->broker().flush(state->config().shutdown_timeout))
    HUDDLE_LOG(state->logger(), error, "server.unsaved_messages");
  state->broker().stop();
}

net::ConnectionExecutors pool(std::vector<asio::any_io_executor> executors) {
  if (executors.empty()) throw std::invalid_argument("huddle::Server: no executor given");
  return {std::move(executors), false};
}

} // namespace

Server::Server(asio::any_io_executor executor, ServerConfig config)
    : impl_(std::make_shared<Impl>(net::ConnectionExecutors{{executor}, true}, std::move(config))) {
  listen();
}

Server::Server(std::vector<asio::any_io_executor> executors, ServerConfig config)
    : impl_(std::make_shared<Impl>(pool(std::move(executors)), std::move(config))) {
  listen();
}

void Server::listen() {
  const ServerConfig& cfg = impl_->state->config();
  const tcp::endpoint endpoint = resolve(impl_->connections.executors.front(), cfg);
  if (cfg.auth == AuthMode::none && !cfg.allow_anonymous_on_network &&
      !net::is_loopback(endpoint.address()))
    throw std::invalid_argument(
        "AuthMode::none lets anyone in under any name: it listens on loopback only, not on \"" +
        cfg.address + "\", unless ServerConfig::allow_anonymous_on_network is set");
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  boost::system::error_code ec;
  acceptor.bind(endpoint, ec);
  if (ec)
    throw boost::system::system_error(ec, "cannot listen on " + cfg.address + ":" +
                                              std::to_string(cfg.port));
  acceptor.listen(asio::socket_base::max_listen_connections);
}

Server::~Server() = default;

asio::awaitable<void> Server::run() {
  using namespace asio::experimental::awaitable_operators;
  auto impl = impl_; // the caller may destroy the Server only after run() completes
  co_await asio::dispatch(impl->acceptor.get_executor(), asio::use_awaitable);
  // Closed already when stop() came first: then the accept loop ends at once, and so does
  // run().
  boost::system::error_code closed;
  const tcp::endpoint bound = impl->acceptor.local_endpoint(closed);
  if (!closed)
    HUDDLE_LOG(impl->state->logger(), info, "server.listening",
               {{"address", bound.address().to_string()}, {"port", bound.port()}});
  // The accept loop runs as a coroutine of its own on the acceptor's strand, where stop()
  // closes the acceptor. Awaited here, it would be back on run()'s executor after its first
  // accept (the dispatch above lasts until the next wait) and start the next accept while
  // stop() closes the acceptor on another thread (ThreadSanitizer found it). The revocation
  // watcher is awaited too: left detached, it could still wait for an access check on
  // AccessControl's threads when the application destroys its io_context, and its frame
  // (which owns the server state) would then be destroyed through the dead executor
  // (ASan+UBSan found it).
  auto accept_loop = net::listen(impl->acceptor, impl->state, impl->connections);
  // The broker (Redis connections, heartbeats) runs until every session has left through it.
  std::weak_ptr<net::ServerState> weak_state = impl->state;
  impl->state->broker().on_epoch_change([weak_state] {
    if (auto state = weak_state.lock()) state->sessions().close_all(protocol::Error::history_reset);
  });
  co_await (asio::co_spawn(impl->acceptor.get_executor(),
                           accept_then_drain(std::move(accept_loop), impl->state),
                           asio::use_awaitable) &&
            asio::co_spawn(impl->acceptor.get_executor(), impl->state->watch_revocations(),
                           asio::use_awaitable) &&
            asio::co_spawn(impl->acceptor.get_executor(), impl->state->watch_timeouts(),
                           asio::use_awaitable) &&
            asio::co_spawn(impl->acceptor.get_executor(), impl->state->broker().run(),
                           asio::use_awaitable));
  HUDDLE_LOG(impl->state->logger(), info, "server.stopped");
}

void Server::stop() {
  asio::dispatch(impl_->acceptor.get_executor(), [impl = impl_] {
    boost::system::error_code ignored;
    impl->acceptor.close(ignored);
    impl->state->stop();
  });
}

std::uint16_t Server::port() const noexcept {
  boost::system::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

void Server::reload_tls() {
  net::TlsContext* tls = impl_->state->tls();
  if (!tls) throw std::logic_error("huddle::Server::reload_tls(): the server has no TLS");
  tls->reload();
  HUDDLE_LOG(impl_->state->logger(), info, "tls.reloaded",
             {{"certificate", impl_->state->config().tls_certificate_file}});
}

asio::awaitable<MessageId> Server::publish(GroupId group, std::string sender, std::string text) {
  auto impl = impl_; // the server state outlives this call even if the Server goes
  const ServerConfig& config = impl->state->config();
  if (!net::is_valid_name(sender))
    throw std::invalid_argument("huddle::Server::publish: the sender must be a name of 1-32 "
                                "printable characters");
  if (text.empty()) throw std::invalid_argument("huddle::Server::publish: the text is empty");
  if (text.size() > config.max_message_bytes)
    throw std::invalid_argument("huddle::Server::publish: the text is longer than "
                                "ServerConfig::max_message_bytes (" +
                                std::to_string(config.max_message_bytes) + " bytes)");
  if (!net::is_valid_utf8(text))
    throw std::invalid_argument("huddle::Server::publish: the text is not UTF-8");
  MessageDraft draft{std::move(sender), std::move(text), now_ms()};
  const net::PublishResult result = co_await net::publish_and_wait(
      *impl->state, group, std::move(draft), {}, config.handshake_timeout);
  using Reason = PublishFailed::Reason;
  switch (result.outcome) {
  case net::PublishOutcome::stored:
    break;
  case net::PublishOutcome::history_unavailable:
    throw PublishFailed(Reason::history_unavailable,
                        "huddle::Server::publish: the history cannot store messages now; "
                        "nothing was sent");
  case net::PublishOutcome::broker_unavailable:
    throw PublishFailed(Reason::broker_unavailable,
                        "huddle::Server::publish: the message broker cannot be reached; nothing "
                        "was sent");
  case net::PublishOutcome::not_stored:
    throw PublishFailed(Reason::not_stored,
                        "huddle::Server::publish: the message was sent but is not stored yet");
  }
  co_return result.id;
}

std::size_t Server::session_count() const noexcept {
  return impl_->state->session_count();
}

ChatManager& Server::chat() noexcept {
  return impl_->state->chat();
}

} // namespace huddle
