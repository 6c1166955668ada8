// Unit tests of src/net/metrics.cpp's parts without sockets: /proc/self/stat parsing (a
// process name with blanks and parentheses) and the close-code and status labels.
#include "net/metrics.hpp"

#include <doctest/doctest.h>

using huddle::net::parse_proc_stat;

TEST_CASE("/proc/self/stat: fields are counted after the name's last parenthesis") {
  // proc(5): utime is field 14, stime 15, starttime 22, vsize 23, rss 24.
  const std::string stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 "
                           "250 50 0 0 20 0 3 0 123456 987654321 2048 18446744073709551615";
  const auto parsed = parse_proc_stat(stat);
  REQUIRE(parsed.has_value());
  CHECK(parsed->cpu_ticks == 300);
  CHECK(parsed->start_ticks == 123456);
  CHECK(parsed->virtual_bytes == 987654321);
  CHECK(parsed->resident_pages == 2048);
  CHECK(!parse_proc_stat("").has_value());
  CHECK(!parse_proc_stat("4242 (huddle) S 1 2 3").has_value());
  CHECK(!parse_proc_stat("4242 (huddle) S 1 4242 4242 0 -1 4194560 100 0 0 0 x 50 0 0 20 0 3 0 "
                         "123456 987654321 2048")
             .has_value());
}

TEST_CASE("close codes and refused statuses are counted under their label, others as other") {
  huddle::net::ServerMetrics metrics;
  metrics.count_close(1008);
  metrics.count_close(1008);
  metrics.count_close(0);
  metrics.count_close(4000);
  metrics.count_refused_upgrade(401);
  metrics.count_refused_upgrade(418);
  huddle::core::Exposition out;
  metrics.closes.write(out, "closes_total", "code", "help");
  metrics.refused_upgrades.write(out, "refused_total", "status", "help");
  const std::string& text = out.text();
  CHECK(text.find("closes_total{code=\"1008\"} 2\n") != std::string::npos);
  CHECK(text.find("closes_total{code=\"none\"} 1\n") != std::string::npos);
  CHECK(text.find("closes_total{code=\"other\"} 1\n") != std::string::npos);
  CHECK(text.find("closes_total{code=\"1000\"} 0\n") != std::string::npos);
  CHECK(text.find("refused_total{status=\"401\"} 1\n") != std::string::npos);
  CHECK(text.find("refused_total{status=\"other\"} 1\n") != std::string::npos);
}
