#include "load/options.hpp"

#include "core/option_values.hpp"
#include "core/ws_url.hpp"

#include <boost/program_options.hpp>

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
  if (o.size < 1 || o.size > k_max_size) {
    return "--size: must be between 1 and " + std::to_string(k_max_size);
  }
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

// program_options' extension point (core/option_values.hpp) for --payload, over the names
// payload.hpp gives the kinds.
void validate(boost::any& value, std::vector<std::string> const& tokens, PayloadKind*, int) {
  std::string const& token = po::validators::get_single_string(tokens);
  PayloadKind kind{};
  if (!parse_payload_kind(token, kind))
    throw core::invalid_value("must be padding or json, got \"" + token + "\"");
  value = kind;
}

namespace {

// --churn-hold: MIN or MIN:MAX, each a duration.
struct HoldRange {
  core::Duration min;
  core::Duration max;
};

void validate(boost::any& value, std::vector<std::string> const& tokens, HoldRange*, int) {
  std::string const& token = po::validators::get_single_string(tokens);
  auto const colon = token.find(':');
  auto const min = core::parse_duration(std::string_view(token).substr(0, colon));
  auto const max = colon == std::string::npos
                       ? min
                       : core::parse_duration(std::string_view(token).substr(colon + 1));
  if (!min || !max)
    throw core::invalid_value("must be MIN or MIN:MAX durations like 200ms:1s, got \"" + token +
                              "\"");
  value = HoldRange{*min, *max};
}

double to_seconds(core::Duration duration) {
  return std::chrono::duration<double>(duration.value).count();
}

// Every option but --scenario and the switches is bound to a field of `o`, whose values are
// the defaults: Options{} for --help, a preset's when --scenario names one.
po::options_description describe(Options& o) {
  using core::duration_value;
  using core::number_value;
  constexpr core::Duration k_zero{};
  po::options_description d(
      "huddle-load: WebSocket group-chat load generator\n\n"
      "Usage: huddle-load [options]\n"
      "Opens --groups x --clients WebSocket clients on --url, makes --senders per group send\n"
      "messages carrying a marker, and counts deliveries, losses and latency.\n\nOptions");
  std::string const payload_help =
      "what a message's text is: padding (the marker, then a-z0-9 up to --size) or json (a "
      "chat app's message as a JSON document of --size bytes, at least " +
      std::to_string(k_json_payload_min_size) +
      ", with sentences from a word list, different in every message, sent as "
      "{\"type\":\"message\",\"text\":\"<document>\"}); figures with compression need json";
  auto* churn_hold = po::value<HoldRange>()->notifier([&o](HoldRange const& hold) {
    o.churn_hold_min_s = to_seconds(hold.min);
    o.churn_hold_max_s = to_seconds(hold.max);
  });
  HoldRange const hold{core::Duration{std::chrono::round<std::chrono::milliseconds>(
                           std::chrono::duration<double>(o.churn_hold_min_s))},
                       core::Duration{std::chrono::round<std::chrono::milliseconds>(
                           std::chrono::duration<double>(o.churn_hold_max_s))}};
  churn_hold->default_value(hold, to_string(hold.min) + ":" + to_string(hold.max));
  d.add_options()("help,h", "show this help")(
      "scenario", po::value<std::string>(),
      "preset: fanout (1x200, 4 senders, 64 B, closed loop), rooms "
      "(100x10, all send 5/s, 128 B), idle (10x100 idle), churn (10x10, "
      "2 senders 20/s, 10 churners per group); later flags override it")(
      "url", po::value<std::vector<std::string>>()->composing()->default_value({o.url}, o.url),
      "ws://host:port/path or wss://... (TLS); {group} is replaced by the group id. Several "
      "endpoints (the nodes of one service, ws and wss mixed if need be): repeat --url or "
      "separate URLs by commas; client i connects to URL i mod N")(
      "ca-file", po::value(&o.ca_file),
      "wss://: PEM file of CA certificates to trust besides the system's (a private or test CA)")(
      "insecure", po::bool_switch(),
      "wss://: do not verify the server's certificate at all; for self-signed test setups "
      "only")("deflate", po::bool_switch(),
              "offer permessage-deflate (RFC 7692): compress what is sent, take compressed "
              "frames; the result says on how many connections the server accepted it")(
      "groups", number_value(&o.groups),
      "number of groups")("group-base", number_value(&o.group_base), "id of the first group")(
      "clients", number_value(&o.clients), "stable members per group")(
      "senders", number_value(&o.senders), "members per group that send")(
      "rate", number_value(&o.rate, 0.0), "messages/s per sender, open loop; 0 = closed loop")(
      "window", number_value(&o.window), "closed loop: messages in flight per sender")(
      "size", core::size_value(&o.size, core::ByteSize{}, core::ByteSize{k_max_size}),
      "payload bytes (at least the marker)")(
      "payload",
      po::value(&o.payload)->default_value(o.payload, std::string(payload_kind_name(o.payload))),
      payload_help.c_str())("duration", duration_value(&o.duration_s, k_zero), "measured period")(
      "warmup", duration_value(&o.warmup_s, k_zero), "sending before measuring")(
      "drain", duration_value(&o.drain_s, k_zero), "waiting for deliveries after sending stops")(
      "connect-rate", number_value(&o.connect_rate, 0.0),
      "connections opened per second; 0 = all at once")(
      "connect-timeout", duration_value(&o.connect_timeout_s, k_zero),
      "TCP connect + handshake limit")("settle", duration_value(&o.settle_s, k_zero),
                                       "without a welcome frame, a join counts as done after")(
      "threads", number_value(&o.threads), "client threads, one io_context each")(
      "idle", po::bool_switch(), "hold connections only, send nothing")(
      "token", po::value(&o.token), "sent as ?token=")("query", po::value(&o.query),
                                                       "extra query string, e.g. name=x&since=0")(
      "echo", po::bool_switch(), "ask for own messages back (?echo=1) and expect them")(
      "churners", number_value(&o.churners),
      "per group: extra clients that join and leave in a loop")(
      "churn-hold", churn_hold, "how long a churner stays, MIN or MIN:MAX")(
      "drop-every", duration_value(&o.drop_every_s, k_zero),
      "each stable client drops its TCP connection abruptly (no close frame) at a random "
      "moment in every interval this long while measuring, then reconnects, with "
      "?since=<last id seen> on protocol v1 servers; tests that reconnects lose "
      "nothing; 0 = never")("source-addresses", number_value(&o.source_addresses),
                            "spread client sockets over 127.0.0.1..127.0.x.y "
                            "(N addresses) when ephemeral ports run out")(
      "seed", number_value(&o.seed), "random seed for churn and drop timing")(
      "json", po::bool_switch(), "print the result as one JSON object on stdout")(
      "quiet,q", po::bool_switch(), "no progress line on stderr")("version", "print the version");
  return d;
}

po::variables_map parse_into(std::vector<std::string> const& args,
                             po::options_description const& description) {
  // No guessing of abbreviated flags: a typo must not select another option.
  auto const style =
      po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(description).style(style).run(), vm);
  return vm;
}

struct Failure {
  std::string message;
};

} // namespace

ParseResult parse_options(std::vector<std::string> const& args) {
  ParseResult result;
  Options o;
  try {
    Options shown;
    auto const description = describe(shown);
    auto const first = parse_into(args, description);
    if (first.count("help")) {
      std::ostringstream out;
      out << description;
      result.help = out.str();
      return result;
    }
    if (first.count("version")) {
      result.help = "huddle-load 0.1.0\n";
      return result;
    }
    // A preset changes the defaults, so the flags are read again over it.
    if (first.count("scenario")) {
      auto const& name = first["scenario"].as<std::string>();
      if (!apply_scenario(name, o)) {
        throw Failure{"--scenario: unknown '" + name + "' (fanout, rooms, idle or churn)"};
      }
    }
    auto vm = parse_into(args, describe(o));
    po::notify(vm);

    std::string split_error;
    auto const urls = split_urls(vm["url"].as<std::vector<std::string>>(), split_error);
    if (!urls) throw Failure{"--url: " + split_error};
    o.url.clear();
    for (auto const& url : *urls) {
      o.url += (o.url.empty() ? "" : ",") + url;
      std::string error;
      auto parsed = parse_url_template(url, error);
      if (!parsed) throw Failure{"--url: '" + url + "' " + error};
      o.url_templates.push_back(std::move(*parsed));
    }
    if (vm["idle"].as<bool>()) o.idle = true;
    if (o.idle) o.senders = 0;
    if (o.query.starts_with('?')) o.query.erase(0, 1);
    if (vm["echo"].as<bool>()) o.echo = true;
    if (vm.count("ca-file") && o.ca_file.empty()) throw Failure{"--ca-file: needs a file name"};
    o.insecure = vm["insecure"].as<bool>();
    o.deflate = vm["deflate"].as<bool>();
    o.json = vm["json"].as<bool>();
    o.progress = !vm["quiet"].as<bool>();
  } catch (po::error const& e) {
    result.error = e.what();
    return result;
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
