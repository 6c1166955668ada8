// The error tables (net/http_error.hpp, core/protocol_error.hpp) as error codes, and
// docs/protocol.md checked against them in both directions: every code the server sends is
// documented with its status or close code, and every code documented is one it sends.
#include "core/protocol_error.hpp"
#include "net/http_error.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

using namespace huddle;

namespace {

std::string protocol_md() {
  std::ifstream in(HUDDLE_PROTOCOL_MD);
  REQUIRE_MESSAGE(in.good(), "cannot read " HUDDLE_PROTOCOL_MD);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// The text from the line `heading` to the next heading of the same or a higher level.
std::string section(const std::string& doc, const std::string& heading) {
  const auto start = doc.find("\n" + heading + "\n");
  REQUIRE_MESSAGE(start != std::string::npos, "docs/protocol.md has no \"", heading, "\"");
  const std::string level = heading.substr(0, heading.find(' ') + 1); // "## " or "### "
  std::size_t end = start + 1;
  while ((end = doc.find('\n', end + 1)) != std::string::npos) {
    const std::string_view line = std::string_view(doc).substr(end + 1);
    if (line.starts_with('#') && line.find(' ') <= level.size() - 1) break;
  }
  return doc.substr(start + 1, end == std::string::npos ? std::string::npos : end - start);
}

std::string trimmed(std::string cell) {
  const auto first = cell.find_first_not_of(" `");
  const auto last = cell.find_last_not_of(" `");
  return first == std::string::npos ? std::string{} : cell.substr(first, last - first + 1);
}

// The cells of a markdown table's rows, header and separator left out.
std::vector<std::vector<std::string>> table_rows(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(text);
  bool header = true;
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with('|')) continue;
    if (header || line.starts_with("|---")) {
      header = line.starts_with("|---") ? false : header;
      continue;
    }
    std::vector<std::string> cells;
    std::istringstream fields(line.substr(1));
    for (std::string cell; std::getline(fields, cell, '|');)
      cells.push_back(trimmed(cell));
    rows.push_back(std::move(cells));
  }
  return rows;
}

using Pairs = std::set<std::pair<unsigned, std::string>>;

Pairs documented_pairs(const std::string& table) {
  Pairs pairs;
  for (const auto& row : table_rows(table)) {
    REQUIRE_MESSAGE(row.size() == 2, "a row of two cells: ", row.size());
    CHECK_MESSAGE(pairs.emplace(std::stoul(row[0]), row[1]).second, "twice: ", row[1]);
  }
  return pairs;
}

std::string describe(const Pairs& pairs) {
  std::string text;
  for (const auto& [number, code] : pairs)
    text += " " + std::to_string(number) + " " + code;
  return text;
}

} // namespace

TEST_CASE("HTTP errors are error codes of their own category") {
  const boost::system::error_code ec = net::HttpError::too_many_connections;
  CHECK(ec.category().name() == std::string("huddle.http"));
  CHECK(ec == net::HttpError::too_many_connections);
  CHECK(ec != net::HttpError::shutting_down);
  CHECK(ec.message() == "the server is at its connection limit");
  CHECK(net::info(net::HttpError::not_stored).wire == "not_stored");
  CHECK(net::info(net::HttpError::unsupported_websocket_version).wire == "bad_handshake");
  CHECK(net::info(net::HttpError::unsupported_websocket_version).status == 426);
  CHECK(net::http_error_category().message(0) == "unknown HTTP API error 0");
  CHECK(net::http_error_category().message(999) == "unknown HTTP API error 999");
}

TEST_CASE("protocol errors are error codes of their own category") {
  const boost::system::error_code ec = protocol::Error::slow_consumer;
  CHECK(ec.category().name() == std::string("huddle.protocol"));
  CHECK(ec == protocol::Error::slow_consumer);
  CHECK(ec.message() == "the connection's send queue overflowed");
  CHECK(protocol::info(protocol::Error::slow_consumer).close_code == 1008);
  CHECK(protocol::info(protocol::Error::rate_limited).close_code == 0);
  CHECK(protocol::error_category().message(-1) == "unknown protocol error -1");
}

TEST_CASE("docs/protocol.md lists every HTTP error code with its status, and no other") {
  const std::string doc = protocol_md();
  Pairs table;
  for (const auto& row : net::k_http_errors)
    table.emplace(row.status, std::string(row.wire));
  const Pairs documented = documented_pairs(section(doc, "### HTTP error codes"));
  Pairs undocumented, unknown;
  std::ranges::set_difference(table, documented, std::inserter(undocumented, undocumented.end()));
  std::ranges::set_difference(documented, table, std::inserter(unknown, unknown.end()));
  CHECK_MESSAGE(undocumented.empty(), "not in docs/protocol.md:", describe(undocumented));
  CHECK_MESSAGE(unknown.empty(), "documented, but not in net/http_error.hpp:", describe(unknown));

  // Where the HTTP section names an answer ("400 `bad_group`"), it is one of the table's.
  const std::string http = section(doc, "## HTTP");
  const std::regex answer(R"(\b([1-5][0-9][0-9]) `([a-z_]+)`)");
  int answers = 0;
  for (std::sregex_iterator it(http.begin(), http.end(), answer), end; it != end; ++it, ++answers)
    CHECK_MESSAGE(table.contains({std::stoul((*it)[1]), (*it)[2]}),
                  "docs/protocol.md \"## HTTP\" answers ", (*it)[0].str(),
                  ", which net/http_error.hpp does not have");
  CHECK(answers > 30);
}

TEST_CASE("docs/protocol.md lists every WebSocket error code and close reason, and no other") {
  const std::string doc = protocol_md();
  std::set<std::string> frames;
  Pairs closes;
  for (const auto& row : protocol::k_protocol_errors)
    if (row.close_code == 0)
      frames.emplace(row.wire);
    else
      closes.emplace(row.close_code, std::string(row.wire));

  std::set<std::string> documented_frames;
  for (const auto& row : table_rows(section(doc, "### WebSocket error frames"))) {
    REQUIRE(row.size() == 1);
    documented_frames.insert(row[0]);
  }
  for (const auto& code : frames)
    CHECK_MESSAGE(documented_frames.contains(code), "not in docs/protocol.md: ", code);
  for (const auto& code : documented_frames)
    CHECK_MESSAGE(frames.contains(code), "documented, not in core/protocol_error.hpp: ", code);

  const Pairs documented_closes = documented_pairs(section(doc, "### WebSocket close reasons"));
  CHECK_MESSAGE(documented_closes == closes, "docs/protocol.md:", describe(documented_closes),
                "; core/protocol_error.hpp:", describe(closes));
}
