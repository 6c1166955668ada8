// Broker: how a group's messages are sequenced, stored and fanned out, for the net layer.
// Two implementations behind this one interface (docs/architecture.md, "Brokers"):
// - LocalBroker: one node. Its ChatManager assigns ids and its SQLite HistoryStore keeps
//   them (the embedded default).
// - RedisBroker: one node of several sharing groups through Redis. Redis assigns ids, keeps
//   history in streams and carries messages and presence between nodes; the node's own
//   ChatManager (built on an ExternalSequence) delivers to the members connected here.
// Every member of a group gets its messages in id order with no gap and no repeat, and a
// sender's on_stored runs once the message is stored as the broker promises.
// Thread-safe: sessions on any thread call it.
#pragma once

#include "core/metrics.hpp"

#include <huddle/chat_manager.hpp>
#include <huddle/message.hpp>
#include <huddle/server_config.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace huddle::broker {

// Why a message was not sent (nothing was stored, no id used, nobody got it).
enum class PublishError {
  none,
  history_unavailable, // the history cannot take more now (LocalBroker: --history-queue-limit)
  broker_unavailable,  // Redis cannot be reached (RedisBroker)
};

// Thrown by join() and the reads when the broker cannot answer now.
class Unavailable : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

class Broker {
public:
  // Runs on any thread once the message is stored, with its id.
  using OnStored = std::function<void(MessageId id)>;

  virtual ~Broker() = default;

  // The members connected to this node (Server::chat()).
  virtual ChatManager& chat() noexcept = 0;

  // Registers `member` in `group` (ChatManager::connect(): its welcome first). Throws
  // Unavailable (or what the history throws) when the group's position cannot be read.
  virtual boost::asio::awaitable<JoinResult> join(GroupId group,
                                                  std::shared_ptr<Member> member) = 0;
  // Once per join() that added the member, when its connection ends.
  virtual boost::asio::awaitable<void> leave(GroupId group, std::shared_ptr<Member> member) = 0;

  // Sends `draft` from `sender` to the group: every member but the sender (unless `echo`)
  // gets it. `on_stored` (may be empty) runs once it is stored; with `echo`, never before
  // the sender's own copy was offered to it.
  virtual boost::asio::awaitable<PublishError> publish(GroupId group, MessageDraft draft,
                                                       std::shared_ptr<Member> sender, bool echo,
                                                       OnStored on_stored) = 0;

  // History, as HistoryStore::read()/read_latest()/skips() describe it.
  virtual boost::asio::awaitable<std::vector<MessagePtr>>
  read(GroupId group, MessageId after, MessageId upto, std::size_t limit,
       std::size_t max_bytes = SIZE_MAX) = 0;
  virtual boost::asio::awaitable<std::vector<MessagePtr>> read_latest(GroupId group,
                                                                      std::size_t limit) = 0;
  virtual boost::asio::awaitable<bool> skips(GroupId group, MessageId since,
                                             MessageId first_kept) = 0;

  // Users online in `group` on every node, sorted.
  virtual boost::asio::awaitable<std::vector<std::string>> online_users(GroupId group) = 0;

  // The history's epoch (MessageLog::epoch()); the welcome and the history API carry it.
  virtual std::string epoch() const = 0;

  // False while the broker cannot serve (RedisBroker: Redis unreachable): GET /healthz then
  // answers 503, so a load balancer sends clients to nodes that can.
  virtual bool available() const noexcept { return true; }

  // Writes the broker's own metric families into a scrape (GET /metrics; LocalBroker: its
  // history writer's). Any thread.
  virtual void write_metrics(core::Exposition&) const {}

  // Background work (Redis connections, presence heartbeats) until stop(); completes at once
  // for a broker that has none.
  virtual boost::asio::awaitable<void> run() = 0;
  virtual void stop() = 0;

  // At shutdown, once every session ended: runs what waits for storage (acks), waiting at
  // most `patience` for a failing store. False when something could not be stored.
  virtual bool flush(std::chrono::milliseconds patience) = 0;

  // The I/O executors of an io_context pool, where a group's sessions run (group id modulo
  // their number, as ServerState::executor_for_group()); a broker that delivers from a
  // thread of its own delivers there. Set once, before run().
  virtual void set_group_executors(const std::vector<boost::asio::any_io_executor>&) {}

  // Called, from any thread, when the broker's history changed epoch while it ran (Redis
  // lost its data): every session here holds ids of the old one and should reconnect.
  // Set once, before run().
  void on_epoch_change(std::function<void()> handler) { epoch_changed_ = std::move(handler); }

protected:
  std::function<void()> epoch_changed_;
};

// The broker `config` asks for: RedisBroker when config.broker_url is set, otherwise
// LocalBroker on config.db_path. Throws std::runtime_error / std::invalid_argument (naming
// the setting) when the store cannot be opened or a setting cannot work.
std::shared_ptr<Broker> make_broker(boost::asio::any_io_executor executor,
                                    const ServerConfig& config);

} // namespace huddle::broker
