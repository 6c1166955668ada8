#include "net/permessage_deflate.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>

namespace huddle::net {

namespace {

constexpr std::string_view k_extension = "permessage-deflate";
// RFC 7692 §7.2.1: what Z_SYNC_FLUSH ends a block with, removed from the frame and added back
// before inflating (§7.2.2).
constexpr std::array<unsigned char, 4> k_trailer{0x00, 0x00, 0xFF, 0xFF};
constexpr int k_window_bits = 15;
// Output is grown in steps of at least this much, up to the limit...
constexpr std::size_t k_inflate_step = 16 * 1024;
// ...and a thread keeps at most this much of it between messages (shrink()).
constexpr std::size_t k_inflate_kept = 1024 * 1024;

// RFC 7230 §3.2.6 tchar.
bool is_tchar(char c) noexcept {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// A cursor over the header value, one grammar step per function.
class Cursor {
public:
  explicit Cursor(std::string_view text) : text_(text) {}

  bool done() const noexcept { return at_ == text_.size(); }
  char peek() const noexcept { return done() ? '\0' : text_[at_]; }
  void skip_ows() noexcept {
    while (!done() && (text_[at_] == ' ' || text_[at_] == '\t'))
      ++at_;
  }
  bool take(char c) noexcept {
    if (peek() != c || done()) return false;
    ++at_;
    return true;
  }
  std::optional<std::string> token() {
    const std::size_t start = at_;
    while (!done() && is_tchar(text_[at_]))
      ++at_;
    if (at_ == start) return std::nullopt;
    return std::string(text_.substr(start, at_ - start));
  }
  // RFC 7230 §3.2.6 quoted-string, unquoted.
  std::optional<std::string> quoted_string() {
    if (!take('"')) return std::nullopt;
    std::string value;
    while (!done()) {
      const auto c = static_cast<unsigned char>(text_[at_++]);
      if (c == '"') return value;
      if (c == '\\') {
        if (done()) return std::nullopt;
        const auto escaped = static_cast<unsigned char>(text_[at_++]);
        if (escaped < 0x20 && escaped != '\t') return std::nullopt;
        if (escaped == 0x7F) return std::nullopt;
        value.push_back(static_cast<char>(escaped));
      } else if ((c < 0x20 && c != '\t') || c == 0x7F) {
        return std::nullopt;
      } else {
        value.push_back(static_cast<char>(c));
      }
    }
    return std::nullopt; // no closing quote
  }

private:
  std::string_view text_;
  std::size_t at_ = 0;
};

// RFC 7692 §7.1.2: 8-15 in decimal, without leading zeros.
std::optional<int> window_bits(const std::string& value) {
  if (value.size() == 1 && value[0] >= '8' && value[0] <= '9') return value[0] - '0';
  if (value.size() == 2 && value[0] == '1' && value[1] >= '0' && value[1] <= '5')
    return 10 + (value[1] - '0');
  return std::nullopt;
}

// The response accepting `offer`, a permessage-deflate offer, or none when it is declined.
std::optional<std::string> accept(const ExtensionOffer& offer) {
  bool server_no_context_takeover = false;
  bool client_no_context_takeover = false;
  bool client_max_window_bits = false;
  std::optional<int> server_max_window_bits;
  for (const ExtensionOffer::Parameter& parameter : offer.parameters) {
    const auto seen = [&](bool& flag) {
      if (flag) return false; // a duplicate (RFC 7692 §7, "extension parameter ... twice")
      flag = true;
      return true;
    };
    if (parameter.name == "server_no_context_takeover" ||
        parameter.name == "client_no_context_takeover") {
      bool& flag =
          parameter.name[0] == 's' ? server_no_context_takeover : client_no_context_takeover;
      if (parameter.value || !seen(flag)) return std::nullopt;
    } else if (parameter.name == "client_max_window_bits") {
      // No value: the client supports the parameter (§7.1.2.2). We never limit the client's
      // window (we inflate with 15 bits), so we do not answer it.
      if (!seen(client_max_window_bits)) return std::nullopt;
      if (parameter.value && !window_bits(*parameter.value)) return std::nullopt;
    } else if (parameter.name == "server_max_window_bits") {
      if (server_max_window_bits || !parameter.value) return std::nullopt;
      server_max_window_bits = window_bits(*parameter.value);
      // Frames are compressed once for every recipient, with one window (§7.1.2.1: a
      // server that cannot use the window asked declines the offer).
      if (server_max_window_bits != k_window_bits) return std::nullopt;
    } else {
      return std::nullopt; // unknown (§7: decline)
    }
  }
  std::string response(k_extension);
  response += "; server_no_context_takeover; client_no_context_takeover";
  // §7.1.2.1: accepting an offer with server_max_window_bits, the response carries it.
  if (server_max_window_bits) response += "; server_max_window_bits=15";
  return response;
}

} // namespace

std::optional<std::vector<ExtensionOffer>> parse_extension_offers(std::string_view header) {
  std::vector<ExtensionOffer> offers;
  Cursor cursor(header);
  for (;;) {
    // RFC 7230 §7: a list may have empty elements.
    cursor.skip_ows();
    if (cursor.done()) break;
    if (cursor.take(',')) continue;
    ExtensionOffer offer;
    auto name = cursor.token();
    if (!name) return std::nullopt;
    offer.name = std::move(*name);
    cursor.skip_ows();
    while (cursor.take(';')) {
      cursor.skip_ows();
      auto parameter = cursor.token();
      if (!parameter) return std::nullopt;
      ExtensionOffer::Parameter& added = offer.parameters.emplace_back();
      added.name = std::move(*parameter);
      cursor.skip_ows();
      if (cursor.take('=')) {
        cursor.skip_ows();
        added.value = cursor.peek() == '"' ? cursor.quoted_string() : cursor.token();
        if (!added.value) return std::nullopt;
        cursor.skip_ows();
      }
    }
    offers.push_back(std::move(offer));
    if (!cursor.done() && !cursor.take(',')) return std::nullopt;
  }
  return offers;
}

std::optional<std::string> negotiate_deflate(std::string_view header) {
  const auto offers = parse_extension_offers(header);
  if (!offers) return std::nullopt;
  for (const ExtensionOffer& offer : *offers) {
    if (offer.name != k_extension) continue;
    if (auto response = accept(offer)) return response;
  }
  return std::nullopt;
}

namespace {

// One deflate state per thread, reset between messages: deflateInit2 allocates about 256 KB
// (window and hash tables at zlib's defaults), which a reset only clears.
struct ThreadDeflater {
  z_stream z{};
  bool ready = false;
  // Raw deflate (negative window bits), as RFC 7692 §7.2.1 asks; level 6 is zlib's default
  // trade of ratio and time, memLevel 8 its default.
  ThreadDeflater()
      : ready(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -k_window_bits, 8,
                           Z_DEFAULT_STRATEGY) == Z_OK) {}
  ~ThreadDeflater() {
    if (ready) deflateEnd(&z);
  }
  ThreadDeflater(const ThreadDeflater&) = delete;
  ThreadDeflater& operator=(const ThreadDeflater&) = delete;
};

} // namespace

std::string deflate_message(std::string_view text) {
  if (text.empty()) return {};
  thread_local ThreadDeflater deflater;
  if (!deflater.ready) return {}; // out of memory: sent uncompressed
  z_stream& stream = deflater.z;
  deflateReset(&stream); // server_no_context_takeover: no history from the last message
  // Worth it only when smaller: the output never needs more than the input, and if the
  // bound is reached the frame goes as it is.
  std::string out(text.size() + k_trailer.size(), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
  stream.avail_in = static_cast<uInt>(text.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const int result = deflate(&stream, Z_SYNC_FLUSH);
  const std::size_t produced = out.size() - stream.avail_out;
  const bool complete = result == Z_OK && stream.avail_in == 0 && stream.avail_out > 0;
  if (!complete || produced < k_trailer.size() ||
      std::memcmp(out.data() + produced - k_trailer.size(), k_trailer.data(), k_trailer.size()))
    return {};
  out.resize(produced - k_trailer.size());
  if (out.size() >= text.size()) return {};
  return out;
}

struct MessageInflater::Stream {
  z_stream z{};
};

MessageInflater::MessageInflater() : stream_(new Stream) {
  if (inflateInit2(&stream_->z, -k_window_bits) != Z_OK) {
    delete stream_;
    throw std::bad_alloc();
  }
}

MessageInflater::~MessageInflater() {
  inflateEnd(&stream_->z);
  delete stream_;
}

MessageInflater& MessageInflater::for_this_thread() {
  thread_local MessageInflater inflater;
  return inflater;
}

void MessageInflater::shrink() noexcept {
  if (output_.capacity() > k_inflate_kept) std::string().swap(output_);
}

MessageInflater::Status MessageInflater::inflate(std::string_view compressed, std::size_t limit) {
  z_stream& z = stream_->z;
  inflateReset(&z); // client_no_context_takeover: every message starts afresh
  size_ = 0;
  // At most limit + 1 bytes are ever written: one past the limit proves the message too big.
  const std::size_t cap = limit + 1;
  // The message's payload, then the trailer the sender removed (RFC 7692 §7.2.2).
  const std::array<std::string_view, 2> inputs{
      compressed,
      std::string_view(reinterpret_cast<const char*>(k_trailer.data()), k_trailer.size())};
  bool ended = false;
  for (std::size_t i = 0; i < inputs.size() && !ended; ++i) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(inputs[i].data()));
    z.avail_in = static_cast<uInt>(inputs[i].size());
    while (z.avail_in > 0) {
      if (size_ == output_.size()) {
        if (output_.size() >= cap) return Status::too_big;
        output_.resize(std::min(cap, std::max(output_.size() * 2, k_inflate_step)));
      }
      z.next_out = reinterpret_cast<Bytef*>(output_.data() + size_);
      z.avail_out = static_cast<uInt>(output_.size() - size_);
      const int result = ::inflate(&z, Z_SYNC_FLUSH);
      size_ = output_.size() - z.avail_out;
      if (size_ > limit) return Status::too_big;
      if (result == Z_STREAM_END) { // a final block (BFINAL): nothing may follow but the trailer
        ended = true;
        if (i == 0 && z.avail_in > 0) return Status::invalid;
        break;
      }
      if (result == Z_BUF_ERROR && z.avail_out == 0) continue; // no room: grow and go on
      if (result != Z_OK) return Status::invalid;
    }
  }
  // The trailer completes an empty stored block, after which the inflater holds no output
  // back; with the input used up, all of it was written.
  return Status::ok;
}

} // namespace huddle::net
