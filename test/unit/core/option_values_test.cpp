#include "core/option_values.hpp"

#include <doctest/doctest.h>

#include <boost/program_options.hpp>

#include <sstream>

namespace po = boost::program_options;
using namespace huddle::core;
using namespace std::chrono_literals;

namespace {

enum class Colour { red, green };
constexpr std::array<Choice<Colour>, 2> k_colours{{{"red", Colour::red}, {"green", Colour::green}}};
void validate(boost::any& value, const std::vector<std::string>& tokens, Colour*, int) {
  value = parse_choice(tokens, k_colours);
}

// A config struct of every kind of field the option files bind.
struct Settings {
  std::uint16_t port = 8080;
  unsigned count = 5;
  int nice = 10;
  double rate = 2.5;
  std::size_t queue_bytes = 1 << 20;
  std::chrono::milliseconds timeout{10'000};
  std::chrono::seconds ttl{12 * 3600};
  double seconds = 0.1;
  Colour colour = Colour::green;
};

po::options_description describe(Settings& s) {
  po::options_description description;
  description.add_options()("port", number_value<std::uint16_t>(&s.port, 0, 65535), "")(
      "count", number_value(&s.count), "")("nice", number_value(&s.nice, 0, 19),
                                           "")("rate", number_value(&s.rate, 0.0), "")(
      "queue-bytes", size_value(&s.queue_bytes, ByteSize{1024}, ByteSize{1ULL << 34}),
      "")("timeout", duration_value(&s.timeout, Duration{1ms}),
          "")("ttl", duration_value(&s.ttl, Duration{1s}),
              "")("seconds", duration_value(&s.seconds, Duration{}, Duration{1s}),
                  "")("colour", choice_value(&s.colour, k_colours), "");
  return description;
}

Settings parse(const std::vector<std::string>& args) {
  Settings settings;
  const auto description = describe(settings);
  po::variables_map vm;
  po::store(po::command_line_parser(args).options(description).run(), vm);
  po::notify(vm);
  return settings;
}

std::string error(const std::vector<std::string>& args) {
  try {
    parse(args);
  } catch (const po::error& e) {
    return e.what();
  }
  FAIL("no error for the arguments");
  return {};
}

} // namespace

TEST_CASE("values fill their fields; a field's own value is its default") {
  const Settings defaults = parse({});
  CHECK(defaults.port == 8080);
  CHECK(defaults.queue_bytes == 1 << 20);
  CHECK(defaults.timeout == 10s);
  CHECK(defaults.seconds == doctest::Approx(0.1));
  CHECK(defaults.colour == Colour::green);

  const Settings s =
      parse({"--port", "0", "--count=7", "--nice", "19", "--rate", "0.5", "--queue-bytes", "64KiB",
             "--timeout", "1.5s", "--ttl", "30d", "--seconds", "250ms", "--colour", "red"});
  CHECK(s.port == 0);
  CHECK(s.count == 7);
  CHECK(s.nice == 19);
  CHECK(s.rate == 0.5);
  CHECK(s.queue_bytes == 64 * 1024);
  CHECK(s.timeout == 1500ms);
  CHECK(s.ttl == std::chrono::hours(30 * 24));
  CHECK(s.seconds == doctest::Approx(0.25));
  CHECK(s.colour == Colour::red);
}

TEST_CASE("--help shows each default as it is typed") {
  Settings settings;
  std::ostringstream help;
  help << describe(settings);
  for (const char* shown :
       {"(=8080)", "(=1MiB)", "(=10s)", "(=12h)", "(=100ms)", "(=green)", "(=2.5)"}) {
    CAPTURE(shown);
    CHECK(help.str().find(shown) != std::string::npos);
  }
}

TEST_CASE("a bad value is one line naming the option, the accepted range and what was given") {
  CHECK(error({"--port", "70000"}) ==
        "--port must be a whole number from 0 to 65535, got \"70000\"");
  CHECK(error({"--port=80x"}) == "--port must be a whole number from 0 to 65535, got \"80x\"");
  // lexical_cast would take "-1" as 4294967295
  CHECK(error({"--count", "-1"}) ==
        "--count must be a whole number from 0 to 4294967295, got \"-1\"");
  CHECK(error({"--count", " 1"}).find("--count") == 0);
  CHECK(error({"--nice", "-1"}) == "--nice must be an integer from 0 to 19, got \"-1\"");
  CHECK(error({"--rate", "-1"}) == "--rate must be a number of at least 0, got \"-1\"");
  CHECK(error({"--rate", "nan"}).find("--rate") == 0);
  CHECK(error({"--queue-bytes", "1e6"}) ==
        "--queue-bytes must be a size from 1KiB to 16GiB, like 65536, 64KiB or 1MiB, got \"1e6\"");
  CHECK(error({"--queue-bytes", "32GiB"}).find("to 16GiB") != std::string::npos);
  CHECK(error({"--timeout", "soon"}) ==
        "--timeout must be a duration of at least 1ms, like 250ms, 1.5s or 5m, got \"soon\"");
  CHECK(error({"--timeout", "0"}).find("of at least 1ms") != std::string::npos);
  CHECK(error({"--ttl", "999ms"}).find("--ttl must be a duration of at least 1s") == 0);
  CHECK(error({"--seconds", "2s"}) ==
        "--seconds must be a duration of at most 1s, like 250ms, 1.5s or 5m, got \"2s\"");
  CHECK(error({"--colour", "blue"}) == "--colour must be red or green, got \"blue\"");
}

TEST_CASE("from a config file, a bad value names the key") {
  Settings settings;
  const auto description = describe(settings);
  std::istringstream file("port = 1\ntimeout = forever\n");
  po::variables_map vm;
  try {
    po::store(po::parse_config_file(file, description), vm);
    FAIL("no error");
  } catch (const po::error& e) {
    CHECK(std::string(e.what()) ==
          "timeout must be a duration of at least 1ms, like 250ms, 1.5s or 5m, got \"forever\"");
  }
}

TEST_CASE("the validate() overloads read Duration and ByteSize for plain typed values") {
  po::options_description description;
  description.add_options()("wait", po::value<Duration>(), "")("size", po::value<ByteSize>(), "");
  po::variables_map vm;
  po::store(po::command_line_parser(std::vector<std::string>{"--wait", "2m", "--size", "2MiB"})
                .options(description)
                .run(),
            vm);
  CHECK(vm["wait"].as<Duration>() == Duration{2min});
  CHECK(vm["size"].as<ByteSize>() == ByteSize{2 << 20});
  po::variables_map bad;
  CHECK_THROWS_WITH_AS(
      po::store(po::command_line_parser(std::vector<std::string>{"--wait", "2y"})
                    .options(description)
                    .run(),
                bad),
      "--wait must be a duration like 250ms, 1.5s, 5m or 1h (whole milliseconds, at most "
      "36500d), got \"2y\"",
      po::error);
}
