#include "net/publish.hpp"

#include "core/use_tuple.hpp"
#include "net/server_state.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <memory>

namespace huddle::net {

namespace asio = boost::asio;

asio::awaitable<PublishResult> publish_and_wait(ServerState& state, GroupId group,
                                                MessageDraft draft,
                                                std::function<void(MessageId)> on_stored,
                                                std::chrono::milliseconds timeout) {
  // The broker reports the message stored from its own thread; a channel of one hands the id
  // over to this coroutine's executor.
  using Stored = asio::experimental::concurrent_channel<void(boost::system::error_code, MessageId)>;
  const auto executor = co_await asio::this_coro::executor;
  auto stored = std::make_shared<Stored>(executor, 1);
  broker::Broker::OnStored report = [stored, on_stored = std::move(on_stored)](MessageId id) {
    if (on_stored) on_stored(id);
    stored->try_send(boost::system::error_code{}, id);
  };
  switch (
      co_await state.broker().publish(group, std::move(draft), nullptr, false, std::move(report))) {
  case broker::PublishError::none:
    break;
  case broker::PublishError::history_unavailable:
    co_return PublishResult{PublishOutcome::history_unavailable};
  case broker::PublishError::broker_unavailable:
    co_return PublishResult{PublishOutcome::broker_unavailable};
  }

  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer deadline(executor, timeout);
  auto outcome = co_await (stored->async_receive(use_tuple) || deadline.async_wait(use_tuple));
  if (outcome.index() == 0)
    co_return PublishResult{PublishOutcome::stored, std::get<1>(std::get<0>(outcome))};
  co_return PublishResult{PublishOutcome::not_stored};
}

} // namespace huddle::net
