#include "load/sequence_set.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <random>
#include <set>
#include <vector>

using namespace huddle::load;

TEST_CASE("in order: one range, each number once") {
  SequenceSet set;
  CHECK(set.empty());
  for (std::uint64_t s = 5; s < 1005; ++s)
    CHECK(set.insert(s));
  CHECK(set.ranges() == 1);
  CHECK(set.end() == 1005);
  CHECK_FALSE(set.insert(5));
  CHECK_FALSE(set.insert(1004));
  CHECK(set.count_in(0, 2000) == 1000);
  CHECK(set.count_in(100, 200) == 100);
  CHECK_FALSE(set.contains(4));
  CHECK(set.contains(5));
  CHECK_FALSE(set.contains(1005));
}

TEST_CASE("gaps are kept until filled, from either side; repeats are refused") {
  SequenceSet set;
  CHECK(set.insert(0));
  CHECK(set.insert(1));
  CHECK(set.insert(5)); // 2, 3, 4 missing
  CHECK(set.ranges() == 2);
  CHECK(set.count_in(0, 6) == 3);
  CHECK(set.insert(4)); // grows the upper range down
  CHECK(set.insert(2)); // grows the lower range up
  CHECK(set.ranges() == 2);
  CHECK_FALSE(set.insert(4));
  CHECK(set.insert(3)); // closes the gap
  CHECK(set.ranges() == 1);
  CHECK(set.count_in(0, 6) == 6);
  CHECK(set.insert(10));
  CHECK(set.insert(8)); // a range of its own between two
  CHECK(set.ranges() == 3);
  CHECK_FALSE(set.insert(8));
  CHECK_FALSE(set.insert(10));
  CHECK_FALSE(set.insert(0));
  set.clear();
  CHECK(set.empty());
  CHECK(set.insert(0));
}

TEST_CASE("against std::set, shuffled with repeats") {
  std::mt19937_64 random(7);
  std::vector<std::uint64_t> seqs;
  for (std::uint64_t s = 0; s < 500; ++s) {
    if (s % 17 != 0) seqs.push_back(s); // some never come
    if (s % 5 == 0) seqs.push_back(s);  // some come twice
  }
  std::shuffle(seqs.begin(), seqs.end(), random);
  SequenceSet set;
  std::set<std::uint64_t> model;
  for (auto const s : seqs)
    CHECK(set.insert(s) == model.insert(s).second);
  for (std::uint64_t s = 0; s < 510; ++s)
    CHECK(set.contains(s) == (model.count(s) == 1));
  CHECK(set.count_in(0, 1000) == model.size());
  CHECK(set.count_in(100, 300) ==
        static_cast<std::uint64_t>(std::distance(model.lower_bound(100), model.lower_bound(300))));
}
