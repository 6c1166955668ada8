// Unit tests of AddressLimits (src/net/address_limits.{hpp,cpp}): open connections and
// upgrade requests per client address, admissions that release their slot, and a table that
// stays bounded under a flood from many addresses. The clock is an argument: no sleeping.
#include "net/address_limits.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <variant>
#include <vector>

namespace {

namespace ip = boost::asio::ip;
using huddle::net::AddressLimits;
using Reason = AddressLimits::Refusal::Reason;
using std::chrono::milliseconds;

const AddressLimits::Clock::time_point t0{std::chrono::hours(1)};

ip::address v4(unsigned n) {
  return ip::make_address_v4(0x0A000000u + n); // 10.x.y.z
}

std::shared_ptr<AddressLimits> make(std::size_t connections, unsigned rate, unsigned burst,
                                    std::size_t max_tracked = 65'536) {
  return std::make_shared<AddressLimits>(
      AddressLimits::Config{connections, rate, burst, max_tracked});
}

bool admitted(const std::variant<AddressLimits::Admission, AddressLimits::Refusal>& result) {
  return std::holds_alternative<AddressLimits::Admission>(result);
}

} // namespace

TEST_CASE("an address may hold max_connections at once; a closed one frees its slot") {
  auto limits = make(2, 0, 1);
  auto first = limits->try_admit(v4(1), t0);
  auto second = limits->try_admit(v4(1), t0);
  REQUIRE(admitted(first));
  REQUIRE(admitted(second));
  const auto third = limits->try_admit(v4(1), t0);
  REQUIRE_FALSE(admitted(third));
  CHECK(std::get<AddressLimits::Refusal>(third).reason == Reason::connections);
  CHECK(std::get<AddressLimits::Refusal>(third).retry_after >= std::chrono::seconds(1));
  // Other addresses have their own slots.
  auto other = limits->try_admit(v4(2), t0);
  CHECK(admitted(other));

  first = AddressLimits::Admission{}; // the first connection ends
  auto again = limits->try_admit(v4(1), t0);
  CHECK(admitted(again));
  CHECK_FALSE(admitted(limits->try_admit(v4(1), t0)));
}

TEST_CASE("admissions moved around release their slot exactly once") {
  auto limits = make(1, 0, 1);
  {
    auto result = limits->try_admit(v4(1), t0);
    REQUIRE(admitted(result));
    AddressLimits::Admission held = std::move(std::get<AddressLimits::Admission>(result));
    AddressLimits::Admission moved(std::move(held));
    CHECK_FALSE(admitted(limits->try_admit(v4(1), t0)));
  }
  CHECK(limits->tracked() == 0); // nothing left to remember
  auto result = limits->try_admit(v4(1), t0);
  CHECK(admitted(result));
}

TEST_CASE("an admission keeps its limits alive") {
  auto limits = make(1, 0, 1);
  auto result = limits->try_admit(v4(1), t0);
  REQUIRE(admitted(result));
  limits.reset();
  // Destroying the admission now must not touch freed memory (ASan would say).
  result = AddressLimits::Refusal{Reason::connections, std::chrono::seconds(1)};
}

TEST_CASE("upgrades per address: a burst back to back, then the rate, with Retry-After") {
  auto limits = make(0, 2, 3); // 2 per second after 3
  for (int i = 0; i < 3; ++i)
    REQUIRE(admitted(limits->try_admit(v4(1), t0)));
  const auto refused = limits->try_admit(v4(1), t0);
  REQUIRE_FALSE(admitted(refused));
  CHECK(std::get<AddressLimits::Refusal>(refused).reason == Reason::upgrade_rate);
  CHECK(std::get<AddressLimits::Refusal>(refused).retry_after == std::chrono::seconds(1));
  CHECK(admitted(limits->try_admit(v4(2), t0))); // another address
  CHECK(admitted(limits->try_admit(v4(1), t0 + milliseconds(500))));
  CHECK_FALSE(admitted(limits->try_admit(v4(1), t0 + milliseconds(500))));
}

TEST_CASE("a slow rate gives a Retry-After in whole seconds, rounded up") {
  auto limits = make(0, 1, 1);
  REQUIRE(admitted(limits->try_admit(v4(1), t0)));
  const auto refused = limits->try_admit(v4(1), t0 + milliseconds(100));
  REQUIRE_FALSE(admitted(refused));
  CHECK(std::get<AddressLimits::Refusal>(refused).retry_after == std::chrono::seconds(1));
}

TEST_CASE("a refused upgrade does not take a connection slot") {
  auto limits = make(1, 1, 1);
  auto first = limits->try_admit(v4(1), t0);
  REQUIRE(admitted(first));
  const auto refused = limits->try_admit(v4(1), t0);
  REQUIRE_FALSE(admitted(refused));
  CHECK(std::get<AddressLimits::Refusal>(refused).reason == Reason::upgrade_rate);
  first = AddressLimits::Admission{};
  auto later = limits->try_admit(v4(1), t0 + std::chrono::seconds(1));
  CHECK(admitted(later));
}

TEST_CASE("with no limits nothing is tracked") {
  auto limits = make(0, 0, 1);
  std::vector<AddressLimits::Admission> held;
  for (unsigned i = 0; i < 1000; ++i) {
    auto result = limits->try_admit(v4(i % 7), t0);
    REQUIRE(admitted(result));
    held.push_back(std::move(std::get<AddressLimits::Admission>(result)));
  }
  CHECK(limits->tracked() == 0);
}

TEST_CASE("the table stays bounded under a flood from many addresses") {
  constexpr std::size_t k_max = 100;
  auto limits = make(5, 1, 2, k_max);
  // A few addresses hold connections throughout, and one has spent its bucket.
  std::vector<AddressLimits::Admission> held;
  for (unsigned i = 0; i < 10; ++i) {
    auto result = limits->try_admit(v4(i), t0);
    REQUIRE(admitted(result));
    held.push_back(std::move(std::get<AddressLimits::Admission>(result)));
  }
  // Then 100000 addresses make one request each, as fast as they can.
  std::size_t most = 0;
  for (unsigned i = 1000; i < 101'000; ++i) {
    (void)limits->try_admit(v4(i), t0 + milliseconds(i / 1000));
    most = std::max(most, limits->tracked());
  }
  CHECK(most <= k_max + 1);
  // The addresses holding connections were never forgotten: their count still applies.
  for (unsigned i = 0; i < 10; ++i) {
    for (int k = 0; k < 4; ++k) {
      auto result = limits->try_admit(v4(i), t0 + std::chrono::hours(1) + milliseconds(k * 1000));
      REQUIRE(admitted(result));
      held.push_back(std::move(std::get<AddressLimits::Admission>(result)));
    }
    const auto over = limits->try_admit(v4(i), t0 + std::chrono::hours(2));
    REQUIRE_FALSE(admitted(over));
    CHECK(std::get<AddressLimits::Refusal>(over).reason == Reason::connections);
  }
}

TEST_CASE("entries whose connections hold them grow the table past max_tracked, and only them") {
  auto limits = make(1, 0, 1, 10);
  std::vector<AddressLimits::Admission> held;
  for (unsigned i = 0; i < 50; ++i) {
    auto result = limits->try_admit(v4(i), t0);
    REQUIRE(admitted(result));
    held.push_back(std::move(std::get<AddressLimits::Admission>(result)));
  }
  CHECK(limits->tracked() == 50);
  held.clear();
  CHECK(limits->tracked() == 0);
}
