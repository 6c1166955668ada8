// GroupExecutors: in an io_context pool (include/huddle/server.hpp), the executor every
// session of a group runs on; none when sessions stay where they were accepted (one
// executor). Set once, before the first connection; read-only after, from any thread.
#pragma once

#include "core/group_home.hpp"

#include <boost/asio/any_io_executor.hpp>

#include <optional>
#include <utility>
#include <vector>

namespace huddle::net {

class GroupExecutors {
public:
  void set(std::vector<boost::asio::any_io_executor> executors) {
    executors_ = std::move(executors);
  }
  std::optional<boost::asio::any_io_executor> of(GroupId group) const {
    if (executors_.empty()) return std::nullopt;
    return executors_[core::group_home(group, executors_.size())];
  }

private:
  std::vector<boost::asio::any_io_executor> executors_;
};

} // namespace huddle::net
