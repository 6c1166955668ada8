#include "net/tls_stream.hpp"

namespace huddle::net {

namespace asio = boost::asio;

TlsStream::Shared::Shared(asio::ip::tcp::socket s)
    : socket(std::move(s)), timer(socket.get_executor()) {}

TlsStream::TlsStream(asio::ip::tcp::socket socket, std::unique_ptr<TlsConnection> tls)
    : shared_(std::make_shared<Shared>(std::move(socket))), tls_(std::move(tls)) {}

TlsStream::~TlsStream() {
  shared_->timer.cancel();
}

void TlsStream::expires_after(std::chrono::steady_clock::duration timeout) {
  Shared& shared = *shared_;
  shared.expired = false;
  shared.timer.expires_after(timeout);
  // A deadline that passed just before this one was set may still have its handler queued:
  // the generation tells it that it is stale.
  shared.timer.async_wait([weak = std::weak_ptr<Shared>(shared_),
                           generation = ++shared.generation](boost::system::error_code ec) {
    const auto shared = weak.lock();
    if (ec || !shared || shared->generation != generation) return;
    shared->expired = true;
    shared->socket.cancel(ec); // the pending wait fails, and the operation with timeout
  });
}

std::pair<asio::ip::tcp::socket, std::unique_ptr<TlsConnection>> TlsStream::release() {
  shared_->timer.cancel();
  ++shared_->generation;
  return {std::move(shared_->socket), std::move(tls_)};
}

} // namespace huddle::net
