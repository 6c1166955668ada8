// LocalBroker: one node on its own. The ChatManager assigns ids and the SQLite HistoryStore
// (its MessageLog) keeps the messages; presence is the ChatManager's. This is the path
// huddle had before brokers existed: the Broker interface only forwards to it.
#pragma once

#include "broker/broker.hpp"
#include "store/history_store.hpp"

namespace huddle::broker {

class LocalBroker final : public Broker {
public:
  // Opens the history (throws what HistoryStore throws).
  LocalBroker(boost::asio::any_io_executor executor, store::HistoryConfig history);

  ChatManager& chat() noexcept override { return chat_; }
  boost::asio::awaitable<JoinResult> join(GroupId group, std::shared_ptr<Member> member) override;
  boost::asio::awaitable<void> leave(GroupId group, std::shared_ptr<Member> member) override;
  boost::asio::awaitable<PublishError> publish(GroupId group, MessageDraft draft,
                                               std::shared_ptr<Member> sender, bool echo,
                                               OnStored on_stored) override;
  boost::asio::awaitable<std::vector<MessagePtr>> read(GroupId group, MessageId after,
                                                       MessageId upto, std::size_t limit,
                                                       std::size_t max_bytes) override;
  boost::asio::awaitable<std::vector<MessagePtr>> read_latest(GroupId group,
                                                              std::size_t limit) override;
  boost::asio::awaitable<bool> skips(GroupId group, MessageId since, MessageId first_kept) override;
  boost::asio::awaitable<std::vector<std::string>> online_users(GroupId group) override;
  std::string epoch() const override { return chat_.epoch(); }
  boost::asio::awaitable<void> run() override { co_return; }
  void stop() override {}
  bool flush(std::chrono::milliseconds patience) override { return history_->flush(patience); }
  void write_metrics(core::Exposition& out) const override;

private:
  const std::shared_ptr<Logger> logger_;
  const std::shared_ptr<store::HistoryStore> history_;
  ChatManager chat_;
};

} // namespace huddle::broker
