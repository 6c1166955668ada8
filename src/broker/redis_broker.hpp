// RedisBroker: this node's part of a service of several huddle nodes sharing one Redis
// (docs/architecture.md, "Brokers"; the model is Centrifugo's Redis engine).
//
// - Sending: one script appends the message to the group's stream under the group's next
//   id (INCR) and publishes it on the group's channel, atomically, so every node sees one
//   order. The sender's ack follows Redis's reply.
// - Delivery: the node subscribes to the channels of groups with members here (one
//   subscriber connection) and hands what arrives, in order, to its ChatManager
//   (deliver()). A hole in the ids (a publish missed while the subscription was down, a
//   dropped subscriber) is filled from the stream before anything later is delivered;
//   each heartbeat, and each reconnect, compares every local group with its counter, so
//   a lost last message is found too.
// - Presence: a sorted set per group, one entry per user and node, kept alive by this
//   node's heartbeat; join and leave go over the channel, once per user for the service.
// - History: the stream (trimmed to history_per_group, and history_max_age by the
//   heartbeat), read with XRANGE.
// - Epoch: a key; Redis without it (new, or its data lost) gets a new one, and a node that
//   sees the epoch change asks its sessions to reconnect (Broker::on_epoch_change()).
// Commands share one pipelined connection (broker/redis/connection.hpp), subscriptions
// another; both reconnect with backoff, and while Redis is away sends fail with
// PublishError::broker_unavailable and joins with Unavailable.
#pragma once

#include "broker/broker.hpp"

#include <memory>

namespace huddle::broker {

class RedisBroker final : public Broker {
public:
  // Connects in run(). Throws std::invalid_argument for a bad config.broker_url.
  RedisBroker(boost::asio::any_io_executor executor, const ServerConfig& config);
  ~RedisBroker() override;

  ChatManager& chat() noexcept override;
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
  std::string epoch() const override;
  bool available() const noexcept override;
  void set_group_executors(const std::vector<boost::asio::any_io_executor>& executors) override;
  boost::asio::awaitable<void> run() override;
  void stop() override;
  bool flush(std::chrono::milliseconds patience) override;

private:
  struct State;
  std::shared_ptr<State> state_; // shared with the coroutines and callbacks it starts
};

} // namespace huddle::broker
