// `huddle chat ws://HOST:PORT/ws/ID [--name N] [--token T]`: a terminal client. Each line
// typed is sent as a message; what arrives is printed as `[id] from: text`, with joins and
// leaves as `* name joined`. End of input closes the connection normally (1000).
// `wss://` connects over TLS, checked as core/client_tls.hpp says (--ca-file, --insecure).
//
// Standard input is read by a plain thread (it may be a terminal, a pipe or a file, which
// Asio's descriptors cannot all wait on) that hands lines to the io_context via a channel.
#include "app/commands.hpp"
#include "app/usage_error.hpp"
#include "core/client_tls.hpp"
#include "core/use_tuple.hpp"
#include "core/ws_url.hpp"
#include "net/target.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json.hpp>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>
#include <type_traits>

namespace huddle::app {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using boost::system::error_code;

namespace {

using PlainWs = websocket::stream<beast::tcp_stream>;
using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

core::WsUrl parse_url(const std::string& url) {
  const auto bad = [&](const std::string& why) {
    return UsageError("bad URL \"" + url + "\": " + why +
                      " (expected ws://HOST:PORT/ws/ID or wss://HOST:PORT/ws/ID)");
  };
  core::WsUrl parsed;
  try {
    parsed = core::parse_ws_url(url);
  } catch (const std::invalid_argument& e) {
    throw bad(e.what());
  }
  if (!parsed.target.starts_with(net::k_ws_prefix)) throw bad("the path must start with /ws/");
  return parsed;
}

void print_frame(std::string_view text) {
  error_code ec;
  json::value value = json::parse(text, ec);
  if (ec || !value.is_object()) {
    std::cout << text << std::endl; // not protocol v1: show it as it came
    return;
  }
  const json::object& frame = value.get_object();
  const auto field = [&](std::string_view key) -> std::string {
    const json::value* v = frame.if_contains(key);
    if (v == nullptr) return {};
    if (v->is_string()) return std::string(v->get_string());
    return json::serialize(*v);
  };
  const std::string type = field("type");
  if (type == "message") {
    std::cout << '[' << field("id") << "] " << field("from") << ": " << field("text") << std::endl;
  } else if (type == "join" || type == "leave") {
    std::cout << "* " << field("user") << (type == "join" ? " joined" : " left") << std::endl;
  } else if (type == "welcome") {
    std::cout << "* joined group " << field("group") << " as " << field("user");
    const json::value* members = frame.if_contains("members");
    if (members != nullptr && members->is_array() && !members->get_array().empty()) {
      std::cout << " (online:";
      for (const auto& name : members->get_array())
        if (name.is_string()) std::cout << ' ' << std::string_view(name.get_string());
      std::cout << ')';
    }
    std::cout << std::endl;
  } else if (type == "error") {
    std::cout << "! " << field("code") << ": " << field("detail") << std::endl;
  }
  // acks are not shown: the message itself is what the user typed
}

using LineChannel = asio::experimental::concurrent_channel<void(error_code, std::string)>;

template <class Ws> asio::awaitable<void> send_lines(Ws& ws, LineChannel& lines) {
  for (;;) {
    auto [ec, line] = co_await lines.async_receive(use_tuple);
    if (ec) break; // end of input
    if (line.empty()) continue;
    // Built outside the co_await: g++ 12 miscompiles string literals in a co_await's
    // braced initializer ("array used as initializer").
    const std::string frame = json::serialize(json::object{{"type", "message"}, {"text", line}});
    auto [write_error, written] = co_await ws.async_write(asio::buffer(frame), use_tuple);
    if (write_error) co_return;
  }
  const websocket::close_reason normal(websocket::close_code::normal);
  co_await ws.async_close(normal, use_tuple);
}

// The chat on an open TCP connection: the TLS handshake for wss://, the WebSocket one,
// then lines out and frames in until either side ends.
template <class Ws>
asio::awaitable<int> talk(Ws& ws, const core::WsUrl& url, const std::string& token,
                          LineChannel& lines) {
  auto executor = co_await asio::this_coro::executor;
  if constexpr (std::is_same_v<Ws, TlsWs>) {
    auto& tls = ws.next_layer();
    core::prepare_client_handshake(tls, url.host);
    auto [tls_error] = co_await tls.async_handshake(asio::ssl::stream_base::client, use_tuple);
    if (tls_error) {
      std::cerr << "huddle chat: TLS with " << url.authority()
                << " failed: " << core::tls_failure_reason(tls.native_handle(), tls_error);
      if (core::certificate_refused(tls.native_handle()))
        std::cerr << " (a private CA: --ca-file FILE; a self-signed test setup: --insecure)";
      std::cerr << '\n';
      co_return k_exit_failure;
    }
  }
  if (!token.empty())
    ws.set_option(websocket::stream_base::decorator([token](websocket::request_type& request) {
      request.set(beast::http::field::authorization, "Bearer " + token);
    }));
  websocket::response_type response;
  auto [handshake_error] =
      co_await ws.async_handshake(response, url.host_header(), url.target, use_tuple);
  if (handshake_error) {
    std::cerr << "huddle chat: refused: " << response.result_int() << ' ' << response.reason()
              << ' ' << response.body() << '\n';
    co_return k_exit_failure;
  }
  beast::get_lowest_layer(ws).expires_never();
  ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));

  asio::co_spawn(executor, send_lines(ws, lines), asio::detached);
  beast::flat_buffer buffer;
  for (;;) {
    auto [ec, bytes] = co_await ws.async_read(buffer, use_tuple);
    if (ec) break;
    print_frame(beast::buffers_to_string(buffer.data()));
    buffer.consume(bytes);
  }
  const auto& reason = ws.reason();
  if (reason.code != websocket::close_code::normal) {
    std::cerr << "* disconnected: " << reason.code << ' '
              << std::string_view(reason.reason.data(), reason.reason.size()) << '\n';
    co_return k_exit_failure;
  }
  co_return 0;
}

// `tls`: the context for a wss:// URL, else null.
template <class Ws>
asio::awaitable<int> chat(core::WsUrl url, std::string token, asio::ssl::context* tls,
                          LineChannel& lines) {
  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(executor);
  auto [resolve_error, endpoints] =
      co_await resolver.async_resolve(url.host, std::to_string(url.port), use_tuple);
  if (resolve_error) {
    std::cerr << "huddle chat: cannot resolve " << url.host << ": " << resolve_error.message()
              << '\n';
    co_return k_exit_failure;
  }
  std::optional<Ws> ws;
  if constexpr (std::is_same_v<Ws, TlsWs>) {
    ws.emplace(executor, *tls);
  } else {
    ws.emplace(executor);
  }
  // Bounds the TCP connect and both handshakes.
  beast::get_lowest_layer(*ws).expires_after(std::chrono::seconds(10));
  auto [connect_error, endpoint] =
      co_await beast::get_lowest_layer(*ws).async_connect(endpoints, use_tuple);
  if (connect_error) {
    std::cerr << "huddle chat: cannot connect to " << url.authority() << ": "
              << connect_error.message() << '\n';
    co_return k_exit_failure;
  }
  co_return co_await talk(*ws, url, token, lines);
}

} // namespace

int chat_command(const std::vector<std::string>& args) {
  std::string url_text;
  std::string name;
  // From the environment by default, so it stays out of `ps` and shell history.
  const char* token_env = std::getenv("HUDDLE_TOKEN");
  std::string token = token_env ? token_env : "";
  core::ClientTlsOptions tls_options;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--help" || args[i] == "-h") {
      std::cout << "usage: huddle chat ws[s]://HOST:PORT/ws/ID [--name NAME] [--token TOKEN]\n"
                   "                  [--ca-file FILE | --insecure]\n"
                   "  --name NAME    the name to chat under (servers with --auth none)\n"
                   "  --token TOKEN  an access token (POST /api/login); default: $HUDDLE_TOKEN\n"
                   "  --ca-file FILE wss://: PEM CA certificates to trust besides the system's\n"
                   "  --insecure     wss://: do not verify the server's certificate at all; for\n"
                   "                 self-signed test setups only\n";
      return 0;
    }
    if (args[i] == "--ca-file") {
      if (i + 1 == args.size() || args[i + 1].empty()) throw UsageError("--ca-file needs a file");
      tls_options.ca_file = args[++i];
      continue;
    }
    if (args[i] == "--insecure") {
      tls_options.insecure = true;
      continue;
    }
    if (args[i] == "--token") {
      if (i + 1 == args.size()) throw UsageError("--token needs a value");
      token = args[++i];
      continue;
    }
    if (args[i] == "--name") {
      if (i + 1 == args.size()) throw UsageError("--name needs a value");
      name = args[++i];
      if (!net::is_valid_name(name)) throw UsageError("--name must be 1-32 printable characters");
    } else if (args[i].starts_with("-")) {
      throw UsageError("unknown option " + args[i] + " for huddle chat");
    } else if (url_text.empty()) {
      url_text = args[i];
    } else {
      throw UsageError("unexpected argument \"" + args[i] + "\" for huddle chat");
    }
  }
  if (url_text.empty())
    throw UsageError("huddle chat needs a URL: huddle chat ws[s]://HOST:PORT/ws/ID");
  core::WsUrl url = parse_url(url_text);
  if (tls_options.insecure && !tls_options.ca_file.empty())
    throw UsageError("--insecure checks no certificate, so --ca-file has no use with it");
  std::optional<asio::ssl::context> tls;
  if (url.tls || !tls_options.ca_file.empty()) {
    try {
      tls.emplace(core::make_client_tls_context(tls_options));
    } catch (const std::runtime_error& e) {
      throw UsageError(std::string("--ca-file: ") + e.what());
    }
  }
  if (!name.empty()) {
    std::string escaped;
    for (const unsigned char c : name) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
        escaped.push_back(static_cast<char>(c));
      } else {
        char hex[4];
        std::snprintf(hex, sizeof hex, "%%%02X", c);
        escaped += hex;
      }
    }
    url.target += (url.target.find('?') == std::string::npos ? "?name=" : "&name=") + escaped;
  }

  // The input thread can sit in getline after the chat has ended, so it
  // shares ownership of the io_context and the channel it sends on: neither
  // may die with this stack frame while it still uses them.
  struct Input {
    asio::io_context io;
    LineChannel lines{io, 64};
  };
  const auto input = std::make_shared<Input>();
  std::thread([input] {
    try {
      for (std::string line; std::getline(std::cin, line);)
        input->lines.async_send(error_code{}, std::move(line), asio::use_future).get();
      input->lines.close();
    } catch (const boost::system::system_error&) {
      // the connection ended and the channel with it
    }
  }).detach(); // it may sit in getline forever; the process ends without it

  auto& io = input->io;
  int exit_code = k_exit_failure;
  const auto done = [&](std::exception_ptr error, int code) {
    exit_code = error ? k_exit_failure : code;
    io.stop();
  };
  asio::ssl::context* context = tls ? &*tls : nullptr;
  if (url.tls) {
    asio::co_spawn(io, chat<TlsWs>(std::move(url), std::move(token), context, input->lines), done);
  } else {
    asio::co_spawn(io, chat<PlainWs>(std::move(url), std::move(token), context, input->lines),
                   done);
  }
  io.run();
  return exit_code;
}

} // namespace huddle::app
