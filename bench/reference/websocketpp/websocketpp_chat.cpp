// Reference chat server for `scripts/bench --compare`, on websocketpp (Debian
// libwebsocketpp-dev): GET /ws/{group} joins a group; each text a member sends goes,
// as is, to every other member of the group. One thread, the library's usual shape.
// Usage: websocketpp_chat [port] [host]  (port 0 = ephemeral); prints
// "listening on HOST:PORT" on stdout once bound, like `huddle serve`.
#include <websocketpp/config/asio_no_tls.hpp>
#include <websocketpp/server.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>
#include <string>

using Server = websocketpp::server<websocketpp::config::asio>;
using Handle = websocketpp::connection_hdl;
using Members = std::set<Handle, std::owner_less<Handle>>;

namespace {

bool parse_group(std::string const& resource, std::uint64_t& group) {
  std::string const prefix = "/ws/";
  if (resource.compare(0, prefix.size(), prefix) != 0) return false;
  std::string digits = resource.substr(prefix.size());
  digits = digits.substr(0, digits.find('?'));
  if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) return false;
  group = std::strtoull(digits.c_str(), nullptr, 10);
  return true;
}

} // namespace

int main(int argc, char** argv) {
  unsigned short const port = argc > 1 ? static_cast<unsigned short>(std::atoi(argv[1])) : 0;
  std::string const host = argc > 2 ? argv[2] : "127.0.0.1";

  Server server;
  std::map<std::uint64_t, Members> groups;
  std::map<Handle, std::uint64_t, std::owner_less<Handle>> group_of;

  server.clear_access_channels(websocketpp::log::alevel::all);
  server.clear_error_channels(websocketpp::log::elevel::all);
  server.init_asio();
  server.set_reuse_addr(true);
  server.set_listen_backlog(4096);

  server.set_validate_handler([&](Handle hdl) {
    std::uint64_t group = 0;
    auto con = server.get_con_from_hdl(hdl);
    if (!parse_group(con->get_resource(), group)) {
      con->set_status(websocketpp::http::status_code::bad_request);
      return false;
    }
    return true;
  });
  server.set_open_handler([&](Handle hdl) {
    std::uint64_t group = 0;
    parse_group(server.get_con_from_hdl(hdl)->get_resource(), group);
    // Without TCP_NODELAY small frames wait on delayed ACKs (~40 ms stalls); every
    // server compared here disables Nagle. (The socket-init hook runs before accept.)
    websocketpp::lib::asio::error_code ignored;
    server.get_con_from_hdl(hdl)->get_raw_socket().set_option(
        websocketpp::lib::asio::ip::tcp::no_delay(true), ignored);
    groups[group].insert(hdl);
    group_of[hdl] = group;
  });
  auto leave = [&](Handle hdl) {
    auto it = group_of.find(hdl);
    if (it == group_of.end()) return;
    auto members = groups.find(it->second);
    if (members != groups.end()) {
      members->second.erase(hdl);
      if (members->second.empty()) groups.erase(members);
    }
    group_of.erase(it);
  };
  server.set_close_handler(leave);
  server.set_fail_handler(leave);
  server.set_message_handler([&](Handle hdl, Server::message_ptr msg) {
    auto it = group_of.find(hdl);
    if (it == group_of.end()) return;
    for (auto const& member : groups[it->second]) {
      if (!member.owner_before(hdl) && !hdl.owner_before(member)) continue; // the sender
      websocketpp::lib::error_code ec;
      server.send(member, msg->get_payload(), msg->get_opcode(), ec);
    }
  });

  websocketpp::lib::error_code ec;
  server.listen(websocketpp::lib::asio::ip::tcp::endpoint(
                    websocketpp::lib::asio::ip::address::from_string(host), port),
                ec);
  if (ec) {
    std::fprintf(stderr, "websocketpp_chat: listen: %s\n", ec.message().c_str());
    return 1;
  }
  server.start_accept();
  websocketpp::lib::asio::error_code asio_ec;
  auto const local = server.get_local_endpoint(asio_ec);
  std::printf("listening on %s:%u\n", local.address().to_string().c_str(),
              static_cast<unsigned>(local.port()));
  std::fflush(stdout);
  server.run();
  return 0;
}
