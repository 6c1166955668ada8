// TlsStream: a TCP socket and its TlsConnection as the asynchronous stream Beast's HTTP reads
// and writes (AsyncReadStream, AsyncWriteStream), with one deadline for whatever operation
// runs, as beast::tcp_stream's expires_after() gives the plain connection.
//
// An operation tries the non-blocking call first and waits for the socket only when
// OpenSSL asks for it; at the upgrade, release() hands the socket and the TLS connection
// to the WebSocket session as they are (asio::ssl::stream keeps bytes in its engine and
// could not). Used by one coroutine at a time (net/http_session.cpp).
#pragma once

#include "net/tls_connection.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <utility>

namespace huddle::net {

class TlsStream {
public:
  using executor_type = boost::asio::any_io_executor;

  TlsStream(boost::asio::ip::tcp::socket socket, std::unique_ptr<TlsConnection> tls);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  executor_type get_executor() { return shared_->socket.get_executor(); }
  boost::asio::ip::tcp::socket& socket() noexcept { return shared_->socket; }
  TlsConnection& tls() noexcept { return *tls_; }

  // The operations from now on fail with beast::error::timeout once `timeout` has passed.
  void expires_after(std::chrono::steady_clock::duration timeout);

  // The socket and the TLS connection, for the WebSocket session; the stream is left empty.
  std::pair<boost::asio::ip::tcp::socket, std::unique_ptr<TlsConnection>> release();

  template <typename Token> auto async_handshake(Token&& token) {
    return async_nonblocking(
        [this](boost::system::error_code& ec) -> std::size_t {
          tls_->handshake(ec);
          return 0;
        },
        [this] { return tls_->read_wait(); }, std::forward<Token>(token));
  }

  // The first byte the client sent, left unread: is it TLS at all?
  template <typename Token> auto async_peek(unsigned char& byte, Token&& token) {
    return async_nonblocking(
        [this, &byte](boost::system::error_code& ec) {
          return shared_->socket.receive(boost::asio::buffer(&byte, 1),
                                         boost::asio::socket_base::message_peek, ec);
        },
        [] { return boost::asio::socket_base::wait_read; }, std::forward<Token>(token));
  }

  template <typename MutableBufferSequence, typename Token>
  auto async_read_some(const MutableBufferSequence& buffers, Token&& token) {
    return async_nonblocking(
        [this, buffers](boost::system::error_code& ec) -> std::size_t {
          for (auto it = boost::asio::buffer_sequence_begin(buffers);
               it != boost::asio::buffer_sequence_end(buffers); ++it) {
            const boost::asio::mutable_buffer buffer = *it;
            if (buffer.size() == 0) continue;
            return tls_->read_some({static_cast<unsigned char*>(buffer.data()), buffer.size()}, ec);
          }
          ec = {};
          return 0;
        },
        [this] { return tls_->read_wait(); }, std::forward<Token>(token));
  }

  template <typename ConstBufferSequence, typename Token>
  auto async_write_some(const ConstBufferSequence& buffers, Token&& token) {
    return async_nonblocking(
        [this, buffers](boost::system::error_code& ec) { return tls_->write_some(buffers, ec); },
        [this] { return tls_->write_wait(); }, std::forward<Token>(token));
  }

private:
  // What the deadline's handler reaches: it may run after the stream is gone.
  struct Shared {
    explicit Shared(boost::asio::ip::tcp::socket s);
    boost::asio::ip::tcp::socket socket;
    boost::asio::steady_timer timer;
    unsigned generation = 0; // of the deadline set last
    bool expired = false;
  };

  // Runs `attempt` (a non-blocking call: bytes, would_block, or the outcome) until it does
  // not would_block, waiting for what `wait()` names in between; completes with
  // (error_code, bytes). An attempt that succeeds at once completes through a post, as an
  // asynchronous operation must.
  template <typename Attempt, typename Wait, typename Token>
  auto async_nonblocking(Attempt attempt, Wait wait, Token&& token) {
    namespace asio = boost::asio;
    return asio::async_compose<Token, void(boost::system::error_code, std::size_t)>(
        [this, attempt = std::move(attempt), wait = std::move(wait), waited = false, done = false,
         result = boost::system::error_code(),
         bytes = std::size_t(0)](auto& self, boost::system::error_code wait_error = {}) mutable {
          if (done) {
            self.complete(result, bytes);
            return;
          }
          if (shared_->expired) {
            self.complete(boost::beast::error::timeout, 0);
            return;
          }
          if (wait_error) {
            self.complete(wait_error, 0);
            return;
          }
          bytes = attempt(result);
          if (result == asio::error::would_block) {
            waited = true;
            shared_->socket.async_wait(wait(), std::move(self));
            return;
          }
          if (waited) {
            self.complete(result, bytes);
            return;
          }
          done = true;
          asio::post(shared_->socket.get_executor(), std::move(self));
        },
        token, shared_->socket);
  }

  std::shared_ptr<Shared> shared_;
  std::unique_ptr<TlsConnection> tls_;
};

} // namespace huddle::net
