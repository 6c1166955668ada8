// RetiredGroups (src/core/retired_groups.hpp): bounded memory whatever group ids clients
// pick, and a floor that never lets a forgotten group reuse an id.
#include "core/retired_groups.hpp"

#include <doctest/doctest.h>

using huddle::GroupId;
using huddle::core::RetiredGroups;

TEST_CASE("remembers the newest retirements, within its capacity") {
  RetiredGroups retired(3);
  retired.put(1, 10);
  retired.put(2, 20);
  retired.put(3, 30);
  CHECK(retired.floor() == 0);
  retired.put(4, 5); // forgets group 1, the oldest
  CHECK(retired.size() == 3);
  CHECK(retired.floor() == 10);
  CHECK_FALSE(retired.take(1));
  CHECK(retired.take(2) == 20);
  CHECK_FALSE(retired.take(2)); // taken: the group lives again
  CHECK(retired.retirements() == 4);
}

TEST_CASE("a million distinct groups keep memory at the capacity; the floor is their highest id") {
  RetiredGroups retired(100);
  for (GroupId group = 1; group <= 1'000'000; ++group)
    retired.put(group, group % 1000);
  CHECK(retired.size() == 100);
  CHECK(retired.floor() == 999);
}

TEST_CASE("a group retired again keeps one entry and its newest id") {
  RetiredGroups retired(2);
  for (int round = 1; round <= 1000; ++round) {
    retired.put(7, round);
    CHECK(retired.take(7) == round);
    retired.put(7, round);
  }
  CHECK(retired.size() == 1);
  retired.put(8, 1);
  retired.put(9, 1); // forgets 7, whose stale places were skipped
  CHECK(retired.floor() == 1000);
  CHECK_FALSE(retired.take(7));
}
