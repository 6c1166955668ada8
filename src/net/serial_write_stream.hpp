// SerialWriteStream: the layer between Beast's WebSocket stream and the TCP stream that
// lets a session write many pre-framed messages in one gather write.
//
// Beast writes one message per call and, from inside its read, writes control frames of its
// own (pongs, close replies, 1007/1009 closes). The session's writer instead writes a whole
// batch of queued frames, header and payload buffers side by side, with one async_write on
// the TCP stream. Both kinds of write take this layer's write lock for the whole frame
// sequence they write, so a Beast frame can never land in the middle of a batch, nor a batch
// in the middle of a Beast frame. All users are on the session's strand. The writer takes the
// lock with try_lock_write() and writes on the socket itself when it can do so at once.
// The server's is SerialWriteStream, over TCP; the fuzz target test/fuzz/ws_stream_fuzz.cpp
// puts the same layer over Beast's in-memory test stream.
#pragma once

#include <boost/asio/async_result.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <cstddef>
#include <utility>

namespace huddle::net {

template <class NextLayer> class BasicSerialWriteStream {
public:
  using next_layer_type = NextLayer;
  using executor_type = typename next_layer_type::executor_type;

  explicit BasicSerialWriteStream(next_layer_type stream)
      : stream_(std::move(stream)), write_lock_(stream_.get_executor(), 1) {}

  executor_type get_executor() noexcept { return stream_.get_executor(); }
  next_layer_type& next_layer() noexcept { return stream_; }
  const next_layer_type& next_layer() const noexcept { return stream_; }

  template <class MutableBuffers, class ReadToken>
  auto async_read_some(const MutableBuffers& buffers, ReadToken&& token) {
    return stream_.async_read_some(buffers, std::forward<ReadToken>(token));
  }

  // Writes all of `buffers` under the write lock (a write_some that always writes all).
  template <class ConstBuffers, class WriteToken>
  auto async_write_some(const ConstBuffers& buffers, WriteToken&& token) {
    return async_write_locked(buffers, std::forward<WriteToken>(token));
  }

  // Takes the write lock if it is free right now; release it with unlock_write().
  bool try_lock_write() noexcept { return write_lock_.try_send(boost::system::error_code{}); }
  void unlock_write() noexcept {
    write_lock_.try_receive([](boost::system::error_code) {});
  }

  // The same, for a sequence of whole frames.
  template <class ConstBuffers, class WriteToken>
  auto async_write_locked(const ConstBuffers& buffers, WriteToken&& token) {
    return boost::asio::async_compose<WriteToken, void(boost::system::error_code, std::size_t)>(
        LockedWrite<ConstBuffers>{*this, buffers}, token, stream_);
  }

private:
  template <class ConstBuffers> struct LockedWrite {
    BasicSerialWriteStream& stream;
    ConstBuffers buffers;
    enum { locking, writing, done } state = locking;

    template <class Self>
    void operator()(Self& self, boost::system::error_code ec = {}, std::size_t written = 0) {
      switch (state) {
      case locking:
        state = writing;
        if (!stream.write_lock_.try_send(boost::system::error_code{})) {
          stream.write_lock_.async_send(boost::system::error_code{}, std::move(self));
          return;
        }
        [[fallthrough]];
      case writing:
        if (ec) return self.complete(ec, 0);
        state = done;
        boost::asio::async_write(stream.stream_, buffers, std::move(self));
        return;
      case done:
        stream.write_lock_.try_receive([](boost::system::error_code) {});
        self.complete(ec, written);
      }
    }
  };

  next_layer_type stream_;
  // Capacity 1: holding the one slot is holding the lock; waiters queue in order.
  boost::asio::experimental::channel<void(boost::system::error_code)> write_lock_;
};

using SerialWriteStream = BasicSerialWriteStream<boost::beast::tcp_stream>;

// Beast's closing handshake tears the transport down through these (found by ADL): the next
// layer's own teardown (for a tcp_stream, its socket's).
template <class NextLayer>
void teardown(boost::beast::role_type role, BasicSerialWriteStream<NextLayer>& stream,
              boost::system::error_code& ec) {
  using boost::beast::websocket::teardown;
  teardown(role, stream.next_layer(), ec);
}

template <class NextLayer, class TeardownHandler>
void async_teardown(boost::beast::role_type role, BasicSerialWriteStream<NextLayer>& stream,
                    TeardownHandler&& handler) {
  using boost::beast::websocket::async_teardown;
  async_teardown(role, stream.next_layer(), std::forward<TeardownHandler>(handler));
}

} // namespace huddle::net
