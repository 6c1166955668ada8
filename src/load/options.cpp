#include "load/options.hpp"

#include "core/ws_url.hpp"

#include <boost/program_options.hpp>

#include <charconv>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace huddle::load {

namespace po = boost::program_options;

namespace {

// Braces are not URL characters: {group} goes through the URL parser as this stand-in of the
// same length (so a position in an error message still points into what the user wrote).
constexpr std::string_view k_group_slot = "{group}";
constexpr std::string_view k_group_stand_in = "%7Bg%7D";

std::string replace_all(std::string text, std::string_view from, std::string_view to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

} // namespace

std::string UrlTemplate::target(std::uint64_t group, std::string_view query) const {
  std::string out;
  std::string const id = std::to_string(group);
  std::size_t pos = 0;
  for (;;) {
    auto const at = path.find(k_group_slot, pos);
    if (at == std::string::npos) break;
    out.append(path, pos, at - pos);
    out.append(id);
    pos = at + k_group_slot.size();
  }
  out.append(path, pos);
  if (!query.empty()) {
    out.push_back(out.find('?') == std::string::npos ? '?' : '&');
    out.append(query);
  }
  return out;
}

std::string UrlTemplate::host_header() const {
  return core::WsUrl{tls, host, port, path}.host_header();
}

std::string UrlTemplate::authority() const {
  return core::WsUrl{tls, host, port, path}.authority();
}

std::optional<UrlTemplate> parse_url_template(std::string_view url, std::string& error) {
  core::WsUrl parsed;
  try {
    parsed = core::parse_ws_url(replace_all(std::string(url), k_group_slot, k_group_stand_in));
  } catch (std::invalid_argument const& e) {
    error = e.what();
    return std::nullopt;
  }
  UrlTemplate out;
  out.tls = parsed.tls;
  out.host = std::move(parsed.host);
  out.port = parsed.port;
  out.path = replace_all(std::move(parsed.target), k_group_stand_in, k_group_slot);
  return out;
}

std::optional<std::vector<std::string>> split_urls(std::vector<std::string> const& values,
                                                   std::string& error) {
  std::vector<std::string> urls;
  for (auto const& value : values) {
    std::string_view rest = value;
    for (;;) {
      auto const comma = rest.find(',');
      auto const url = rest.substr(0, comma);
      if (url.empty()) {
        error = "'" + value + "' has an empty URL (URLs are separated by single commas)";
        return std::nullopt;
      }
      urls.emplace_back(url);
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return urls;
}

std::optional<double> parse_duration(std::string_view text) {
  double scale = 1;
  if (text.ends_with("ms")) {
    scale = 1e-3;
    text.remove_suffix(2);
  } else if (text.ends_with('s')) {
    text.remove_suffix(1);
  } else if (text.ends_with('m')) {
    scale = 60;
    text.remove_suffix(1);
  }
  double value = 0;
  auto const res = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || res.ec != std::errc{} || res.ptr != text.data() + text.size() ||
      !std::isfinite(value) || value < 0) {
    return std::nullopt;
  }
  return value * scale;
}

std::string url_encode(std::string_view text) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char const c : text) {
    bool const unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(k_hex[c >> 4]);
      out.push_back(k_hex[c & 15]);
    }
  }
  return out;
}

std::string query_with_since(std::string_view query, std::uint64_t since) {
  std::string out;
  while (!query.empty()) {
    auto const amp = query.find('&');
    auto const part = query.substr(0, amp);
    query.remove_prefix(amp == std::string_view::npos ? query.size() : amp + 1);
    if (part.empty() || part == "since" || part.starts_with("since=")) continue;
    out.append(part);
    out.push_back('&');
  }
  out.append("since=");
  out.append(std::to_string(since));
  return out;
}

std::string Options::query_string() const {
  std::string out;
  auto add = [&out](std::string_view part) {
    if (part.empty()) return;
    if (!out.empty()) out.push_back('&');
    out.append(part);
  };
  if (!token.empty()) add("token=" + url_encode(token));
  if (echo) add("echo=1");
  add(query);
  return out;
}

bool apply_scenario(std::string_view name, Options& o) {
  if (name == "fanout") {
    // One busy room: the broadcast path and per-recipient cost dominate.
    o.groups = 1, o.clients = 200, o.senders = 4, o.size = 64, o.rate = 0, o.window = 8;
  } else if (name == "rooms") {
    // Many quiet rooms: latency under a steady, spread-out load.
    o.groups = 100, o.clients = 10, o.senders = 10, o.size = 128, o.rate = 5;
  } else if (name == "idle") {
    o.groups = 10, o.clients = 100, o.senders = 0, o.idle = true, o.warmup_s = 0, o.drain_s = 0;
  } else if (name == "churn") {
    // Members come and go while others chat; those who stay must lose nothing.
    o.groups = 10, o.clients = 10, o.senders = 2, o.size = 64, o.rate = 20, o.churners = 10;
  } else {
    return false;
  }
  o.scenario = std::string(name);
  return true;
}

std::string validate(Options const& o) {
  if (o.groups < 1) return "--groups: must be at least 1";
  if (o.clients < 1) return "--clients: must be at least 1";
  if (!o.idle && o.senders > o.clients) {
    return "--senders: must not exceed --clients (" + std::to_string(o.clients) + ")";
  }
  if (o.window < 1) return "--window: must be at least 1";
  if (o.size < 1 || o.size > (16u << 20)) return "--size: must be between 1 and 16777216";
  if (o.payload == PayloadKind::json && o.size < k_json_payload_min_size) {
    return "--size: --payload json needs at least " + std::to_string(k_json_payload_min_size) +
           " bytes (the document's fields)";
  }
  if (o.duration_s <= 0) return "--duration: must be more than 0";
  if (o.threads < 1 || o.threads > 256) return "--threads: must be between 1 and 256";
  if (o.source_addresses < 1 || o.source_addresses > 65534) {
    return "--source-addresses: must be between 1 and 65534";
  }
  if (o.drop_every_s > 0 && o.drop_every_s < 0.01) {
    return "--drop-every: must be 0 (off) or at least 10ms";
  }
  if (o.churn_hold_min_s > o.churn_hold_max_s) {
    return "--churn-hold: the minimum must not exceed the maximum";
  }
  if (o.connections() > 2'000'000) return "--clients: more than 2000000 connections in all";
  if (o.url_templates.empty()) return "--url: needs at least one URL";
  if (o.insecure && !o.ca_file.empty()) {
    return "--insecure: checks no certificate, so --ca-file has no use with it";
  }
  for (auto const& url : o.url_templates) {
    if (url.path.find("{group}") == std::string::npos && o.groups > 1) {
      return "--url: needs {group} in the path when --groups > 1";
    }
  }
  if (!o.idle && o.closed_loop() && o.senders > 0 && o.clients < 2 && !o.echo) {
    return "--window: a closed loop needs another member to see the messages "
           "(--clients >= 2, or --echo, or --rate)";
  }
  return {};
}

namespace {

// Numbers are taken as strings so a bad one is reported with its flag, and "-1" is not
// silently wrapped into a huge unsigned value.
template <typename T> bool to_number(std::string const& text, T& out) {
  auto const res = std::from_chars(text.data(), text.data() + text.size(), out);
  return !text.empty() && res.ec == std::errc{} && res.ptr == text.data() + text.size();
}

struct Failure {
  std::string message;
};

template <typename T> T whole(po::variables_map const& vm, char const* name) {
  T value{};
  auto const& text = vm[name].as<std::string>();
  if (!to_number(text, value)) {
    throw Failure{std::string("--") + name + ": expected a whole number >= 0, got '" + text + "'"};
  }
  return value;
}

double real(po::variables_map const& vm, char const* name) {
  double value = 0;
  auto const& text = vm[name].as<std::string>();
  if (!to_number(text, value) || !std::isfinite(value) || value < 0) {
    throw Failure{std::string("--") + name + ": expected a number >= 0, got '" + text + "'"};
  }
  return value;
}

double seconds(po::variables_map const& vm, char const* name) {
  auto const& text = vm[name].as<std::string>();
  auto value = parse_duration(text);
  if (!value) {
    throw Failure{std::string("--") + name +
                  ": expected a duration like 10, 10s, 500ms or 2m, got '" + text + "'"};
  }
  return *value;
}

po::options_description describe() {
  po::options_description d(
      "huddle-load: WebSocket group-chat load generator\n\n"
      "Usage: huddle-load [options]\n"
      "Opens --groups x --clients WebSocket clients on --url, makes --senders per group send\n"
      "messages carrying a marker, and counts deliveries, losses and latency.\n\nOptions");
  auto text = [] { return po::value<std::string>(); };
  std::string const payload_help =
      "what a message's text is: padding (the marker, then a-z0-9 up to --size) or json (a "
      "chat app's message as a JSON document of --size bytes, at least " +
      std::to_string(k_json_payload_min_size) +
      ", with sentences from a word list, different in every message, sent as "
      "{\"type\":\"message\",\"text\":\"<document>\"}); figures with compression need "
      "json [padding]";
  d.add_options()("help,h", "show this help")(
      "scenario", text(),
      "preset: fanout (1x200, 4 senders, 64 B, closed loop), rooms "
      "(100x10, all send 5/s, 128 B), idle (10x100 idle), churn (10x10, "
      "2 senders 20/s, 10 churners per group); later flags override it")(
      "url", po::value<std::vector<std::string>>()->composing(),
      "ws://host:port/path or wss://... (TLS); {group} is replaced by the group id. Several "
      "endpoints (the nodes of one service, ws and wss mixed if need be): repeat --url or "
      "separate URLs by commas; client i connects to URL i mod N "
      "[ws://127.0.0.1:8080/ws/{group}]")(
      "ca-file", text(),
      "wss://: PEM file of CA certificates to trust besides the system's (a private or test CA)")(
      "insecure", po::bool_switch(),
      "wss://: do not verify the server's certificate at all; for self-signed test setups "
      "only")("deflate", po::bool_switch(),
              "offer permessage-deflate (RFC 7692): compress what is sent, take compressed "
              "frames; the result says on how many connections the server accepted it")(
      "groups", text(), "number of groups [1]")("group-base", text(), "id of the first group [1]")(
      "clients", text(), "stable members per group [10]")("senders", text(),
                                                          "members per group that send [1]")(
      "rate", text(), "messages/s per sender, open loop; 0 = closed loop [0]")(
      "window", text(), "closed loop: messages in flight per sender [8]")(
      "size", text(), "payload bytes (at least the marker) [64]")(
      "payload", text(), payload_help.c_str())("duration", text(), "measured period [10s]")(
      "warmup", text(), "sending before measuring [1s]")(
      "drain", text(), "waiting for deliveries after sending stops [2s]")(
      "connect-rate", text(), "connections opened per second; 0 = all at once [5000]")(
      "connect-timeout", text(), "TCP connect + handshake limit [10s]")(
      "settle", text(), "without a welcome frame, a join counts as done after [100ms]")(
      "threads", text(), "client threads, one io_context each [1]")(
      "idle", po::bool_switch(), "hold connections only, send nothing")(
      "token", text(), "sent as ?token=")("query", text(),
                                          "extra query string, e.g. name=x&since=0")(
      "echo", po::bool_switch(), "ask for own messages back (?echo=1) and expect them")(
      "churners", text(), "per group: extra clients that join and leave in a loop [0]")(
      "churn-hold", text(), "how long a churner stays, MIN or MIN:MAX [200ms:1s]")(
      "drop-every", text(),
      "each stable client drops its TCP connection abruptly (no close frame) at a random "
      "moment in every interval this long while measuring, then reconnects, with "
      "?since=<last id seen> on protocol v1 servers; tests that reconnects lose "
      "nothing; 0 = never [0]")("source-addresses", text(),
                                "spread client sockets over 127.0.0.1..127.0.x.y "
                                "(N addresses) when ephemeral ports run out [1]")(
      "seed", text(), "random seed for churn and drop timing [1]")(
      "json", po::bool_switch(), "print the result as one JSON object on stdout")(
      "quiet,q", po::bool_switch(), "no progress line on stderr")("version", "print the version");
  return d;
}

} // namespace

ParseResult parse_options(std::vector<std::string> const& args) {
  ParseResult result;
  auto const description = describe();
  po::variables_map vm;
  try {
    // No guessing of abbreviated flags: a typo must not select another option.
    auto const style =
        po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    po::store(po::command_line_parser(args).options(description).style(style).run(), vm);
    po::notify(vm);
  } catch (po::error const& e) {
    result.error = e.what();
    return result;
  }
  if (vm.count("help")) {
    std::ostringstream out;
    out << description;
    result.help = out.str();
    return result;
  }
  if (vm.count("version")) {
    result.help = "huddle-load 0.1.0\n";
    return result;
  }

  Options o;
  try {
    if (vm.count("scenario")) {
      auto const& name = vm["scenario"].as<std::string>();
      if (!apply_scenario(name, o)) {
        throw Failure{"--scenario: unknown '" + name + "' (fanout, rooms, idle or churn)"};
      }
    }
    auto has = [&vm](char const* name) { return vm.count(name) > 0; };
    std::vector<std::string> urls{o.url};
    if (has("url")) {
      std::string error;
      auto split = split_urls(vm["url"].as<std::vector<std::string>>(), error);
      if (!split) throw Failure{"--url: " + error};
      urls = std::move(*split);
      o.url.clear();
      for (auto const& url : urls)
        o.url += (o.url.empty() ? "" : ",") + url;
    }
    for (auto const& url : urls) {
      std::string error;
      auto parsed = parse_url_template(url, error);
      if (!parsed) throw Failure{"--url: '" + url + "' " + error};
      o.url_templates.push_back(std::move(*parsed));
    }
    if (has("groups")) o.groups = whole<std::uint32_t>(vm, "groups");
    if (has("group-base")) o.group_base = whole<std::uint64_t>(vm, "group-base");
    if (has("clients")) o.clients = whole<std::uint32_t>(vm, "clients");
    if (has("senders")) o.senders = whole<std::uint32_t>(vm, "senders");
    if (has("rate")) o.rate = real(vm, "rate");
    if (has("window")) o.window = whole<std::uint32_t>(vm, "window");
    if (has("size")) o.size = whole<std::uint32_t>(vm, "size");
    if (has("payload")) {
      auto const& name = vm["payload"].as<std::string>();
      if (!parse_payload_kind(name, o.payload)) {
        throw Failure{"--payload: unknown '" + name + "' (padding or json)"};
      }
    }
    if (has("duration")) o.duration_s = seconds(vm, "duration");
    if (has("warmup")) o.warmup_s = seconds(vm, "warmup");
    if (has("drain")) o.drain_s = seconds(vm, "drain");
    if (has("connect-rate")) o.connect_rate = real(vm, "connect-rate");
    if (has("connect-timeout")) o.connect_timeout_s = seconds(vm, "connect-timeout");
    if (has("settle")) o.settle_s = seconds(vm, "settle");
    if (has("threads")) o.threads = whole<std::uint32_t>(vm, "threads");
    if (vm["idle"].as<bool>()) o.idle = true;
    if (o.idle) o.senders = 0;
    if (has("token")) o.token = vm["token"].as<std::string>();
    if (has("query")) {
      o.query = vm["query"].as<std::string>();
      if (o.query.starts_with('?')) o.query.erase(0, 1);
    }
    if (vm["echo"].as<bool>()) o.echo = true;
    if (has("ca-file")) {
      o.ca_file = vm["ca-file"].as<std::string>();
      if (o.ca_file.empty()) throw Failure{"--ca-file: needs a file name"};
    }
    o.insecure = vm["insecure"].as<bool>();
    o.deflate = vm["deflate"].as<bool>();
    if (has("churners")) o.churners = whole<std::uint32_t>(vm, "churners");
    if (has("churn-hold")) {
      auto const& text = vm["churn-hold"].as<std::string>();
      auto const colon = text.find(':');
      auto const lo = parse_duration(std::string_view(text).substr(0, colon));
      auto const hi = colon == std::string::npos
                          ? lo
                          : parse_duration(std::string_view(text).substr(colon + 1));
      if (!lo || !hi)
        throw Failure{"--churn-hold: expected MIN or MIN:MAX durations, got '" + text + "'"};
      o.churn_hold_min_s = *lo;
      o.churn_hold_max_s = *hi;
    }
    if (has("source-addresses")) o.source_addresses = whole<std::uint32_t>(vm, "source-addresses");
    if (has("drop-every")) o.drop_every_s = seconds(vm, "drop-every");
    if (has("seed")) o.seed = whole<std::uint64_t>(vm, "seed");
    o.json = vm["json"].as<bool>();
    o.progress = !vm["quiet"].as<bool>();
  } catch (Failure const& failure) {
    result.error = failure.message;
    return result;
  }

  if (auto error = validate(o); !error.empty()) {
    result.error = std::move(error);
    return result;
  }
  result.options = std::move(o);
  return result;
}

} // namespace huddle::load
