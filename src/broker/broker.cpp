#include "broker/broker.hpp"

#include "broker/local_broker.hpp"
#include "broker/redis_broker.hpp"

namespace huddle::broker {

std::shared_ptr<Broker> make_broker(boost::asio::any_io_executor executor,
                                    const ServerConfig& config) {
  if (!config.broker_url.empty()) return std::make_shared<RedisBroker>(executor, config);
  store::HistoryConfig history;
  history.path = config.db_path;
  history.durability = config.durability;
  history.max_per_group = config.history_per_group;
  history.max_age = config.history_max_age;
  history.max_queued = config.history_queue_limit;
  history.writer_nice = config.history_writer_nice;
  history.commit_delay = config.history_commit_delay;
  history.logger = config.logger;
  return std::make_shared<LocalBroker>(std::move(executor), std::move(history));
}

} // namespace huddle::broker
