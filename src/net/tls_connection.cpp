#include "net/tls_connection.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <stdexcept>

namespace huddle::net {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {

// OpenSSL's own socket BIO writes with write(2): a peer that has gone would raise SIGPIPE and
// kill the process of an application that did not ignore it. This one sends with
// MSG_NOSIGNAL, as Asio does, and otherwise behaves as the socket BIO: non-blocking calls,
// "retry" for EAGAIN, and the end of the stream reported through BIO_CTRL_EOF.
struct SocketBio {
  int descriptor = -1; // -1 once detached: every call fails
  bool eof = false;
};

SocketBio& socket_of(BIO* bio) {
  return *static_cast<SocketBio*>(BIO_get_data(bio));
}

bool retryable(int error) {
  return error == EAGAIN || error == EWOULDBLOCK || error == EINTR;
}

int bio_write(BIO* bio, const char* data, std::size_t size, std::size_t* written) {
  BIO_clear_retry_flags(bio);
  const ssize_t sent = ::send(socket_of(bio).descriptor, data, size, MSG_NOSIGNAL);
  if (sent >= 0) {
    *written = static_cast<std::size_t>(sent);
    return 1;
  }
  if (retryable(errno)) BIO_set_retry_write(bio);
  return 0;
}

int bio_read(BIO* bio, char* data, std::size_t size, std::size_t* read) {
  BIO_clear_retry_flags(bio);
  SocketBio& socket = socket_of(bio);
  const ssize_t received = ::recv(socket.descriptor, data, size, 0);
  if (received > 0) {
    *read = static_cast<std::size_t>(received);
    return 1;
  }
  if (received == 0)
    socket.eof = true;
  else if (retryable(errno))
    BIO_set_retry_read(bio);
  return 0;
}

long bio_ctrl(BIO* bio, int command, long, void*) {
  switch (command) {
  case BIO_CTRL_FLUSH: // nothing is buffered here
    return 1;
  case BIO_CTRL_EOF:
    return socket_of(bio).eof ? 1 : 0;
  default:
    return 0;
  }
}

int bio_destroy(BIO* bio) {
  delete static_cast<SocketBio*>(BIO_get_data(bio));
  BIO_set_data(bio, nullptr);
  return 1;
}

const BIO_METHOD* socket_bio_method() {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "huddle socket");
    if (m == nullptr) throw std::bad_alloc();
    BIO_meth_set_write_ex(m, bio_write);
    BIO_meth_set_read_ex(m, bio_read);
    BIO_meth_set_ctrl(m, bio_ctrl);
    BIO_meth_set_destroy(m, bio_destroy);
    return m;
  }();
  return method;
}

} // namespace

TlsConnection::TlsConnection(ssl_ctx_st* context, int descriptor)
    : ssl_(SSL_new(context)) { // the SSL holds its own reference to the context
  if (!ssl_) throw std::bad_alloc();
  SSL_set_accept_state(ssl_.get());
  BIO* bio = BIO_new(socket_bio_method());
  if (bio == nullptr) throw std::bad_alloc();
  BIO_set_data(bio, new SocketBio{descriptor, false});
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_.get(), bio, bio); // one BIO both ways: SSL_set_bio takes the one reference
}

TlsConnection::~TlsConnection() = default;

void TlsConnection::Free::operator()(ssl_st* ssl) const noexcept {
  SSL_free(ssl);
}

error_code TlsConnection::failure(int result, WaitType& wait) const {
  switch (SSL_get_error(ssl_.get(), result)) {
  case SSL_ERROR_WANT_READ:
    wait = WaitType::wait_read;
    return asio::error::would_block;
  case SSL_ERROR_WANT_WRITE:
    wait = WaitType::wait_write;
    return asio::error::would_block;
  case SSL_ERROR_ZERO_RETURN: // close_notify, or (SSL_OP_IGNORE_UNEXPECTED_EOF) a bare FIN
    return asio::error::eof;
  case SSL_ERROR_SYSCALL:
    if (errno != 0) return {errno, boost::system::system_category()};
    return asio::error::eof;
  default: {
    // The reason is the first error OpenSSL queued; the queue is the thread's, shared by
    // every connection on it, so it is emptied here and before each call.
    const unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (code == 0) return asio::error::connection_aborted;
    return {static_cast<int>(code), asio::error::get_ssl_category()};
  }
  }
}

bool TlsConnection::handshake(error_code& ec) {
  ERR_clear_error();
  errno = 0;
  const int result = SSL_do_handshake(ssl_.get());
  if (result == 1) {
    ec = {};
    return true;
  }
  ec = failure(result, read_wait_);
  return false;
}

std::size_t TlsConnection::read_some(std::span<unsigned char> into, error_code& ec) {
  // Record by record until `into` is full or nothing is left: the caller parses all of it
  // in one go, and then waits for the socket only when OpenSSL holds nothing more.
  std::size_t total = 0;
  ec = {};
  while (total < into.size()) {
    ERR_clear_error();
    errno = 0;
    std::size_t read = 0;
    const int result = SSL_read_ex(ssl_.get(), into.data() + total, into.size() - total, &read);
    if (result != 1) {
      const error_code error = failure(result, read_wait_);
      // Bytes already read are the caller's first; an end or an error comes with the next
      // call, which meets it again.
      if (total == 0) ec = error;
      break;
    }
    total += read;
  }
  return total;
}

std::size_t TlsConnection::write_some(std::span<const unsigned char> bytes, error_code& ec) {
  if (bytes.empty()) {
    ec = {};
    return 0;
  }
  ERR_clear_error();
  errno = 0;
  std::size_t written = 0;
  // SSL_MODE_ENABLE_PARTIAL_WRITE: the count is of whole records written; a record the
  // socket took only in part stays with OpenSSL, which sends its rest when called again with
  // the same bytes (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER: from wherever they are then).
  const int result = SSL_write_ex(ssl_.get(), bytes.data(), bytes.size(), &written);
  if (result == 1) {
    ec = {};
    return written;
  }
  ec = failure(result, write_wait_);
  return 0;
}

bool TlsConnection::has_buffered_input() const noexcept {
  return SSL_has_pending(ssl_.get()) == 1;
}

void TlsConnection::shutdown() noexcept {
  ERR_clear_error();
  SSL_shutdown(ssl_.get()); // would block: the alert is not sent, and the peer sees a FIN
  ERR_clear_error();
}

void TlsConnection::detach() noexcept {
  // The BIO never closes the descriptor: that stays the socket's.
  socket_of(SSL_get_rbio(ssl_.get())).descriptor = -1;
}

} // namespace huddle::net
