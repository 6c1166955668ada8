#include "load/report.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

using namespace huddle::load;

TEST_CASE("the JSON report carries what scripts read") {
  Report r;
  r.options.scenario = "fanout";
  r.planned_connections = 10;
  r.connected = 10;
  r.measured_s = 2;
  r.reconnects = 3;
  r.tally = Tally{100, 400, 400, 400, 0, 1};
  for (std::uint64_t v = 1; v <= 1000; ++v)
    r.latency_ns.record(v * 1000);
  r.errors[static_cast<std::size_t>(ErrorKind::server_close_policy)] = 2;
  r.error_examples[static_cast<std::size_t>(ErrorKind::server_close_policy)] = "1008 slow consumer";
  r.timeline.push_back(Sample{1.0, 10, 50, 200, 0});

  auto const doc = boost::json::parse(r.to_json()).as_object();
  for (char const* key :
       {"connected", "failed_connects", "sent", "delivered", "expected", "lost", "deliveries_per_s",
        "latency_us", "errors", "timeline", "reconnects", "duplicates"}) {
    CAPTURE(key);
    CHECK(doc.contains(key));
  }
  CHECK(doc.at("deliveries_per_s").to_number<double>() == 200.0);
  CHECK(doc.at("reconnects").to_number<int>() == 3);
  CHECK(doc.at("duplicates").to_number<int>() == 1);
  auto const& latency = doc.at("latency_us").as_object();
  for (char const* p : {"p50", "p90", "p99", "p99.9", "max"})
    CHECK(latency.contains(p));
  CHECK(latency.at("max").to_number<double>() == 1000.0);
  CHECK(doc.at("errors").as_object().at("server_close_1008").to_number<int>() == 2);
  CHECK(doc.at("error_examples").as_object().at("server_close_1008").as_string() ==
        "1008 slow consumer");

  // Without --deflate nothing was offered: said in the JSON, no row in the table.
  auto const& deflate = doc.at("deflate").as_object();
  CHECK(deflate.at("offered") == false);
  CHECK(deflate.at("accepted").to_number<int>() == 0);
  CHECK(doc.at("payload").as_string() == "padding");

  auto const table = r.to_table();
  CHECK(table.find("deflate") == std::string::npos);
  CHECK(table.find("lost") != std::string::npos);
  CHECK(table.find("server_close_1008 2") != std::string::npos);
  CHECK(table.find("3 reconnects") != std::string::npos);
  CHECK(table.find("duplicates   1") != std::string::npos);
}

TEST_CASE("the report says on how many connections the server accepted deflate") {
  Report r;
  r.options.deflate = true;
  r.options.payload = PayloadKind::json;
  r.connects = 12;
  r.deflate_connects = 10;
  r.delivered_all_phases = 5000;
  auto const doc = boost::json::parse(r.to_json()).as_object();
  auto const& deflate = doc.at("deflate").as_object();
  CHECK(deflate.at("offered") == true);
  CHECK(deflate.at("accepted").to_number<int>() == 10);
  CHECK(doc.at("payload").as_string() == "json");
  CHECK(doc.at("delivered_all_phases").to_number<int>() == 5000);
  CHECK(r.to_table().find("deflate      offered; accepted on 10 of 12 connections") !=
        std::string::npos);
}
