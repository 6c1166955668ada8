#include "broker/local_broker.hpp"

#include "core/log.hpp"

namespace huddle::broker {

namespace {

store::HistoryConfig logging_to(store::HistoryConfig history, std::shared_ptr<Logger> logger) {
  history.logger = std::move(logger);
  return history;
}

} // namespace

LocalBroker::LocalBroker(boost::asio::any_io_executor executor, store::HistoryConfig history)
    : logger_(core::log::or_default(history.logger)),
      history_(std::make_shared<store::HistoryStore>(logging_to(std::move(history), logger_))),
      chat_(std::move(executor), history_, logger_) {}

boost::asio::awaitable<JoinResult> LocalBroker::join(GroupId group,
                                                     std::shared_ptr<Member> member) {
  co_return co_await chat_.connect(group, std::move(member));
}

boost::asio::awaitable<void> LocalBroker::leave(GroupId group, std::shared_ptr<Member> member) {
  co_await chat_.disconnect(group, *member);
}

boost::asio::awaitable<PublishError> LocalBroker::publish(GroupId group, MessageDraft draft,
                                                          std::shared_ptr<Member> sender, bool echo,
                                                          OnStored on_stored) {
  ChatManager::OnDurable durable;
  if (on_stored)
    durable = [on_stored = std::move(on_stored)](const MessagePtr& sent) { on_stored(sent->id()); };
  MessagePtr sent;
  try {
    sent = co_await chat_.broadcast(group, std::move(draft), echo ? nullptr : sender.get(),
                                    std::move(durable));
  } catch (const std::exception& e) { // a group made anew could not read its last id
    HUDDLE_LOG(*logger_, error, "broker.broadcast_failed", {{"group", group}, {"error", e.what()}});
  }
  // Null: the history is full (--history-queue-limit) or failing; nothing was sent.
  co_return sent ? PublishError::none : PublishError::history_unavailable;
}

boost::asio::awaitable<std::vector<MessagePtr>> LocalBroker::read(GroupId group, MessageId after,
                                                                  MessageId upto, std::size_t limit,
                                                                  std::size_t max_bytes) {
  co_return co_await history_->async_read(group, after, upto, limit, max_bytes);
}

boost::asio::awaitable<std::vector<MessagePtr>> LocalBroker::read_latest(GroupId group,
                                                                         std::size_t limit) {
  co_return co_await history_->async_read_latest(group, limit);
}

boost::asio::awaitable<bool> LocalBroker::skips(GroupId group, MessageId since,
                                                MessageId first_kept) {
  co_return co_await history_->async_skips(group, since, first_kept);
}

boost::asio::awaitable<std::vector<std::string>> LocalBroker::online_users(GroupId group) {
  co_return co_await chat_.online_users(group);
}

void LocalBroker::write_metrics(core::Exposition& out) const {
  out.gauge("huddle_history_queue_messages",
            "Messages waiting for the history writer (reserved, not yet committed)",
            static_cast<double>(history_->queued()));
  out.histogram("huddle_history_commit_seconds",
                "Duration of the history writer's successful commits (one per batch)",
                history_->commit_latency(), 1e6);
  out.counter("huddle_history_commit_failures_total",
              "History commits that failed (their batch is retried)", history_->failed_commits());
}

} // namespace huddle::broker
