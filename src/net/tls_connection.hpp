// TlsConnection: the TLS side of one accepted connection, driven by socket readiness.
//
// OpenSSL reads and writes the non-blocking socket itself (a BIO on its descriptor),
// so bytes are encrypted straight into the kernel's buffer and decrypted straight into the
// caller's: no second copy through a memory BIO, and no engine that must be drained before
// the socket moves on. Every call is non-blocking. When one cannot go on it fails with
// asio::error::would_block, and the caller waits until the socket is ready for what OpenSSL
// asked (read_wait(), write_wait()), then calls again. A write that would block must be
// retried with the same bytes (at least as many: the rest of what was given); the callers
// keep the unwritten rest anyway.
//
// One type serves the HTTP requests (net/tls_stream.hpp, for Beast) and, once upgraded, the
// WebSocket session (net/ws_session.hpp), which reads and writes it the way it reads and
// writes a plain socket. Calls come from one executor at a time (the connection's).
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/system/error_code.hpp>

#include <array>
#include <cstddef>
#include <memory>
#include <span>

struct ssl_st;     // OpenSSL's SSL
struct ssl_ctx_st; // and SSL_CTX

namespace huddle::net {

class TlsConnection {
public:
  using WaitType = boost::asio::socket_base::wait_type;

  // A server-side connection with `context`'s settings (TlsContext) that reads and writes
  // the non-blocking socket `descriptor`, which stays the caller's to close.
  TlsConnection(ssl_ctx_st* context, int descriptor);
  ~TlsConnection();
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  // One step of the server handshake: true once complete.
  bool handshake(boost::system::error_code& ec);
  // Decrypted bytes into `into`, as many as are there (records OpenSSL holds, then what the
  // socket has); asio::error::eof once the peer closed the connection.
  std::size_t read_some(std::span<unsigned char> into, boost::system::error_code& ec);
  // Encrypts and writes a prefix of `bytes` (whole records); 0 with would_block when the
  // socket takes none.
  std::size_t write_some(std::span<const unsigned char> bytes, boost::system::error_code& ec);
  // The same for a buffer sequence: gathered into one TLS record of the thread's (the copy
  // TLS needs anyway, as records are encrypted whole), so a batch of frames is one record
  // and one send, as it is one sendmsg without TLS.
  template <typename ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    thread_local std::array<unsigned char, k_record_bytes> record;
    const std::size_t size = boost::asio::buffer_copy(boost::asio::buffer(record), buffers);
    return write_some(std::span<const unsigned char>(record.data(), size), ec);
  }

  // Whether read_some() has bytes without the socket being readable (records read ahead).
  bool has_buffered_input() const noexcept;
  // What the last read_some() or write_some() that would block waits for.
  WaitType read_wait() const noexcept { return read_wait_; }
  WaitType write_wait() const noexcept { return write_wait_; }

  // Sends the close_notify alert if the socket takes it now; the caller then shuts the
  // socket's sending side. Never waits.
  void shutdown() noexcept;
  // Unbinds the descriptor before the socket is closed: the number may be reused by another
  // connection at once, and nothing must ever write to it through this one.
  void detach() noexcept;

  // Most plaintext one TLS record carries (RFC 8446 §5.1).
  static constexpr std::size_t k_record_bytes = 16 * 1024;

private:
  struct Free {
    void operator()(ssl_st* ssl) const noexcept;
  };
  // Maps the result of an SSL call: would_block with the wait it needs, eof, or the error.
  boost::system::error_code failure(int result, WaitType& wait) const;

  std::unique_ptr<ssl_st, Free> ssl_;
  WaitType read_wait_ = WaitType::wait_read;
  WaitType write_wait_ = WaitType::wait_write;
};

} // namespace huddle::net
