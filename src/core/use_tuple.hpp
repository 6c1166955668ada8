// use_tuple: the completion token every coroutine in huddle awaits I/O with. Operations
// then return their error_code in a tuple instead of throwing, because a peer vanishing is
// an expected outcome here, not an exception (STYLE.md, "Errors").
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace huddle {

inline constexpr auto use_tuple = boost::asio::as_tuple(boost::asio::use_awaitable);

} // namespace huddle
