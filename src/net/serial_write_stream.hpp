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

#include "net/frame_header.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
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
  // Beast writes every frame of its own here, so this is where a close frame is replaced
  // (replace_next_close()).
  template <class ConstBuffers, class WriteToken>
  auto async_write_some(const ConstBuffers& buffers, WriteToken&& token) {
    bool replace = false;
    if (close_replacement_due_ && first_byte(buffers) == close_replacement_[0]) {
      close_replacement_due_ = false;
      replace = true;
    }
    return boost::asio::async_compose<WriteToken, void(boost::system::error_code, std::size_t)>(
        LockedWrite<ConstBuffers>{*this, buffers, replace}, token, stream_);
  }

  // The next close frame Beast writes carries `code` (and no reason) instead of its own.
  // Beast echoes a peer's close code that RFC 6455 §7.4 forbids (5000 and above); the
  // session's control callback sees the peer's frame first and asks for 1002 here.
  void replace_next_close(std::uint16_t code) noexcept {
    close_replacement_ = close_frame(code);
    close_replacement_due_ = true;
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
        LockedWrite<ConstBuffers>{*this, buffers, false}, token, stream_);
  }

private:
  template <class ConstBuffers> static int first_byte(const ConstBuffers& buffers) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      const boost::asio::const_buffer buffer(*it);
      if (buffer.size() > 0) return *static_cast<const unsigned char*>(buffer.data());
    }
    return -1;
  }

  template <class ConstBuffers> struct LockedWrite {
    BasicSerialWriteStream& stream;
    ConstBuffers buffers;
    bool replace_close; // write stream.close_replacement_ instead, and report all of `buffers`
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
        if (replace_close)
          boost::asio::async_write(stream.stream_, boost::asio::buffer(stream.close_replacement_),
                                   std::move(self));
        else
          boost::asio::async_write(stream.stream_, buffers, std::move(self));
        return;
      case done:
        stream.write_lock_.try_receive([](boost::system::error_code) {});
        self.complete(ec, replace_close && !ec ? boost::asio::buffer_size(buffers) : written);
      }
    }
  };

  next_layer_type stream_;
  // Capacity 1: holding the one slot is holding the lock; waiters queue in order.
  boost::asio::experimental::channel<void(boost::system::error_code)> write_lock_;
  std::array<unsigned char, 4> close_replacement_{};
  bool close_replacement_due_ = false;
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
