#include "broker/redis_broker.hpp"

#include "broker/channel_payload.hpp"
#include "broker/ordered_delivery.hpp"
#include "broker/redis/connection.hpp"
#include "broker/redis/url.hpp"
#include "broker/redis_scripts.hpp"
#include "core/group_home.hpp"
#include "core/log.hpp"
#include "core/protocol.hpp"
#include "core/random_hex.hpp"
#include "core/use_tuple.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <variant>

namespace huddle::broker {

namespace asio = boost::asio;
using redis::Command;
using redis::make_command;
using redis::Reply;

namespace {

// A send whose message never came back over the channel (its group emptied here, Redis
// failed between the reply and the publish) is forgotten after this long.
constexpr std::chrono::seconds k_pending_lifetime{60};

enum Script {
  publish_script,
  join_script,
  leave_script,
  heartbeat_script,
  trim_script,
  epoch_script
};
constexpr std::array<const char*, 6> k_scripts = {scripts::publish,  scripts::join,
                                                  scripts::leave,    scripts::heartbeat,
                                                  scripts::trim_age, scripts::epoch};

bool is_noscript(const Reply& reply) {
  return reply.is_error() && reply.text.starts_with("NOSCRIPT");
}

// A stream entry ["<id>-0", [field, value, ...]] as a Message; null for another shape.
MessagePtr entry_message(GroupId group, const Reply& entry, std::string* origin) {
  if (entry.type != Reply::Type::array || entry.elements.size() != 2) return nullptr;
  const std::string& id_text = entry.elements[0].text;
  MessageId id = 0;
  const auto [ptr, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (ec != std::errc() || id < 1) return nullptr;
  MessageDraft draft;
  const auto& fields = entry.elements[1].elements;
  for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
    const std::string& name = fields[i].text;
    const std::string& value = fields[i + 1].text;
    if (name == "f")
      draft.from = value;
    else if (name == "t")
      draft.text = value;
    else if (name == "ts")
      std::from_chars(value.data(), value.data() + value.size(), draft.ts_ms);
    else if (name == "o" && origin)
      *origin = value;
  }
  return Message::make(group, id, std::move(draft));
}

// Distinct users of presence entries "<node>:<user>", sorted.
std::vector<std::string> users_of(const Reply& entries) {
  std::set<std::string> users;
  for (const Reply& entry : entries.elements) {
    const auto colon = entry.text.find(':');
    if (colon != std::string::npos) users.insert(entry.text.substr(colon + 1));
  }
  return {users.begin(), users.end()};
}

} // namespace

struct RedisBroker::State : std::enable_shared_from_this<State> {
  // What a delivery lane works through, one at a time, in arrival order: a publication, or
  // a group's counter to catch up with.
  struct CatchUp {
    MessageId counter = 0;
  };
  struct Incoming {
    GroupId group;
    std::variant<ChannelMessage, ChannelPresence, CatchUp> what;
  };
  // Delivers the groups of one I/O executor, on it: the groups' sessions live there, so the
  // offers wake their writers on their own thread, and what one read of the subscriber
  // connection brought is handed over with one post per lane, not one per message.
  struct Lane {
    explicit Lane(asio::any_io_executor executor) : strand(asio::make_strand(executor)) {}
    asio::strand<asio::any_io_executor> strand;
    std::mutex mutex;
    std::vector<Incoming> queued; // under the mutex
    bool scheduled = false;       // under the mutex: a drain is posted or running
  };
  // A message this node sent, until both Redis's reply and the message itself came back.
  struct Pending {
    std::weak_ptr<Member> sender;
    bool echo = false;
    OnStored on_stored;
    MessageId id = 0; // from the reply
    bool delivered = false;
    std::chrono::steady_clock::time_point created = std::chrono::steady_clock::now();
  };

  // Where a group's ids stand, for the ChatManager; holds the state weakly (it owns the manager).
  struct Sequence final : ExternalSequence {
    std::weak_ptr<State> state;
    asio::awaitable<MessageId> last_id(GroupId group) override {
      auto self = state.lock();
      if (!self) throw Unavailable("the broker stopped");
      co_return co_await self->counter(group);
    }
    std::string epoch() const override {
      auto self = state.lock();
      return self ? self->current_epoch() : std::string();
    }
  };

  State(asio::any_io_executor executor, const ServerConfig& config)
      : executor(executor), logger(core::log::or_default(config.logger)),
        prefix(config.broker_prefix), node(core::random_hex()),
        max_per_group(config.history_per_group), max_age(config.history_max_age),
        presence_ttl(config.presence_ttl), strand(asio::make_strand(executor)),
        heartbeat_timer(strand) {
    redis::ConnectionConfig connection;
    connection.endpoint = redis::parse_url(config.broker_url);
    connection.user = config.broker_user;
    connection.password = config.broker_password;
    connection.connect_timeout = config.broker_connect_timeout;
    connection.command_timeout = config.broker_command_timeout;
    connection.client_name = "huddle-" + node;
    connection.logger = logger;
    commands = redis::Connection::create(executor, connection);
    connection.subscriber = true;
    connection.client_name += "-sub";
    subscriber = redis::Connection::create(executor, connection);
  }

  // Wires the callbacks (they hold the state weakly) and makes the manager.
  void start() {
    auto sequence = std::make_shared<Sequence>();
    sequence->state = weak_from_this();
    chat = std::make_unique<ChatManager>(executor, sequence, logger);
    std::weak_ptr<State> weak = weak_from_this();
    lanes.push_back(std::make_unique<Lane>(executor));
    // The state owns `ordered`, which is only used from its lanes while the state lives.
    ordered = std::make_unique<OrderedDelivery>(
        *chat,
        [this](GroupId group, MessageId after, MessageId upto, std::size_t limit) {
          return fetch(group, after, upto, limit);
        },
        [this](Published published, bool skip_gap) {
          return offer(std::move(published), skip_gap);
        },
        *logger);
    commands->on_connect([weak]() -> asio::awaitable<void> {
      if (auto self = weak.lock()) co_await self->on_commands_connected();
    });
    subscriber->on_connect([weak]() -> asio::awaitable<void> {
      if (auto self = weak.lock()) co_await self->on_subscriber_connected();
    });
    subscriber->on_push([weak](std::string_view channel, std::string_view payload) {
      if (auto self = weak.lock()) self->on_push(channel, payload);
    });
  }

  // --- Redis helpers ---

  std::string key(GroupId group, std::string_view what) const {
    return group_key(prefix, group, what);
  }

  // Runs a script (by its SHA once loaded; by its text when Redis lost it or it is not loaded
  // yet). Throws Unavailable when Redis cannot answer; an error reply is returned.
  asio::awaitable<Reply> eval(Script script, std::vector<std::string> keys,
                              std::vector<std::string> args) {
    std::string sha;
    {
      std::lock_guard lock(mutex);
      sha = shas[script];
    }
    Command command{sha.empty() ? "EVAL" : "EVALSHA", sha.empty() ? k_scripts[script] : sha,
                    std::to_string(keys.size())};
    command.insert(command.end(), keys.begin(), keys.end());
    command.insert(command.end(), args.begin(), args.end());
    auto [ec, reply] = co_await commands->execute(command);
    if (!ec && is_noscript(reply)) {
      command[0] = "EVAL";
      command[1] = k_scripts[script];
      std::tie(ec, reply) = co_await commands->execute(std::move(command));
    }
    if (ec) throw Unavailable("redis: " + ec.message());
    co_return reply;
  }

  asio::awaitable<Reply> call(Command command) {
    auto [ec, reply] = co_await commands->execute(std::move(command));
    if (ec) throw Unavailable("redis: " + ec.message());
    if (reply.is_error()) throw Unavailable("redis: " + reply.text);
    co_return reply;
  }

  std::string current_epoch() const {
    std::lock_guard lock(mutex);
    return epoch;
  }
  bool has_epoch() const {
    std::lock_guard lock(mutex);
    return !epoch.empty();
  }

  // The group's last id in Redis. Read after the group's channel is subscribed, so every
  // id after it arrives over the channel (or is filled from the stream).
  asio::awaitable<MessageId> counter(GroupId group) {
    if (current_epoch().empty()) throw Unavailable("redis: not connected yet");
    const Reply reply = co_await call(make_command("GET", key(group, "seq")));
    if (reply.type == Reply::Type::nil) co_return 0;
    MessageId id = 0;
    std::from_chars(reply.text.data(), reply.text.data() + reply.text.size(), id);
    co_return id;
  }

  // --- connections ---

  asio::awaitable<void> on_commands_connected() {
    for (std::size_t i = 0; i < k_scripts.size(); ++i) {
      auto [ec, reply] = co_await commands->execute(make_command("SCRIPT", "LOAD", k_scripts[i]));
      if (ec || reply.is_error()) continue; // EVAL stands in
      std::lock_guard lock(mutex);
      shas[i] = reply.text;
    }
    try {
      co_await check_epoch();
    } catch (const std::exception& e) {
      HUDDLE_LOG(*logger, warning, "broker.epoch_failed", {{"error", e.what()}});
      co_return;
    }
    co_spawn(strand, check_positions(), asio::detached);
  }

  // Reads the history's epoch (setting a new one if Redis has none). When it changed, Redis
  // lost its data: its ids start again, and the ids every session here holds name nothing
  // any more. Delivery starts again from the new ids, and the sessions are asked to
  // reconnect (their ?since= from the old epoch then gets reset:true). Throws Unavailable.
  asio::awaitable<void> check_epoch() {
    std::vector<std::string> keys{prefix + "epoch"}, args{core::random_hex()};
    const Reply reply = co_await eval(epoch_script, std::move(keys), std::move(args));
    if (reply.type != Reply::Type::string) co_return;
    std::string before;
    {
      std::lock_guard lock(mutex);
      before = std::exchange(epoch, reply.text);
    }
    if (before.empty() || before == reply.text) co_return;
    // Every session is closed (below).
    HUDDLE_LOG(*logger, error, "broker.history_lost",
               {{"old_epoch", before}, {"epoch", reply.text}});
    co_await chat->reset_positions();
    if (owner_epoch_changed) owner_epoch_changed();
    co_spawn(strand, check_positions(), asio::detached);
  }

  asio::awaitable<void> on_subscriber_connected() {
    // Every channel that was subscribed is again, before anything else is answered. Run on
    // the strand (which owns the counts) and awaited from the connection's own.
    co_await asio::co_spawn(strand, resubscribe(), asio::use_awaitable);
    // What was published while the subscription was down is in the streams.
    co_spawn(strand, check_positions(), asio::detached);
  }

  asio::awaitable<void> resubscribe() {
    std::vector<Command> subscribe;
    for (const auto& [group, count] : subscriptions)
      subscribe.push_back({"SUBSCRIBE", key(group, "ch")});
    if (!subscribe.empty()) co_await subscriber->execute_all(std::move(subscribe));
  }

  // Subscribes the group's channel for one more local member. The counts live on the
  // strand, and SUBSCRIBE and UNSUBSCRIBE are issued from it, so they reach Redis in the
  // order the counts changed; co_spawn brings the caller back to its own executor.
  asio::awaitable<void> acquire(GroupId group) {
    co_await asio::co_spawn(strand, acquire_on_strand(group), asio::use_awaitable);
  }
  asio::awaitable<void> release(GroupId group) {
    co_await asio::co_spawn(strand, release_on_strand(group), asio::use_awaitable);
  }

  asio::awaitable<void> acquire_on_strand(GroupId group) {
    ++subscriptions[group];
    // Sent for every acquire, not only the first: a second one then returns only once the
    // channel is subscribed, too (SUBSCRIBE is idempotent).
    auto [ec, reply] = co_await subscriber->execute(make_command("SUBSCRIBE", key(group, "ch")));
    if (ec || reply.is_error()) {
      co_await release_on_strand(group);
      throw Unavailable("redis: cannot subscribe: " + (ec ? ec.message() : reply.text));
    }
  }

  asio::awaitable<void> release_on_strand(GroupId group) {
    auto it = subscriptions.find(group);
    if (it == subscriptions.end() || --it->second > 0) co_return;
    subscriptions.erase(it);
    co_await subscriber->execute(
        make_command("UNSUBSCRIBE", key(group, "ch"))); // down: nothing to undo
  }

  // --- delivery (on the strand, one item at a time) ---

  void on_push(std::string_view channel, std::string_view payload) {
    const auto group = channel_group(prefix, channel);
    if (!group) return;
    auto parsed = parse_channel_payload(payload);
    if (std::holds_alternative<ChannelJunk>(parsed)) {
      HUDDLE_LOG(*logger, warning, "broker.malformed_publication", {{"channel", channel}});
      return;
    }
    Incoming item{*group, {}};
    if (auto* message = std::get_if<ChannelMessage>(&parsed))
      item.what = std::move(*message);
    else
      item.what = std::get<ChannelPresence>(std::move(parsed));
    enqueue(std::move(item));
  }

  Lane& lane_of(GroupId group) {
    // The same choice as the sessions' (core/group_home.hpp): a group's lane runs where its
    // sessions do.
    return *lanes[core::group_home(group, lanes.size())];
  }

  void enqueue(Incoming item) {
    Lane& lane = lane_of(item.group);
    {
      std::lock_guard lock(lane.mutex);
      lane.queued.push_back(std::move(item));
      if (lane.scheduled) return;
      lane.scheduled = true;
    }
    co_spawn(lane.strand, drain(lane), asio::detached);
  }

  asio::awaitable<void> drain(Lane& lane) {
    auto self = shared_from_this();
    std::vector<Incoming> batch;
    for (;;) {
      {
        std::lock_guard lock(lane.mutex);
        if (lane.queued.empty()) {
          lane.scheduled = false;
          co_return;
        }
        batch.swap(lane.queued);
      }
      for (Incoming& item : batch)
        co_await handle(item);
      batch.clear();
    }
  }

  asio::awaitable<void> handle(Incoming& item) {
    try {
      if (auto* in = std::get_if<ChannelMessage>(&item.what)) {
        Published published{
            Message::make(item.group, in->id,
                          MessageDraft{std::move(in->from), std::move(in->text), in->ts_ms}),
            std::move(in->origin)};
        co_await ordered->arrived(std::move(published));
      } else if (auto* presence = std::get_if<ChannelPresence>(&item.what)) {
        const char* kind = presence->online ? "join" : "leave";
        co_await chat->offer(
            item.group, make_frame(protocol::encode_presence(kind, item.group, presence->user)),
            presence->user);
      } else {
        co_await ordered->catch_up(item.group, std::get<CatchUp>(item.what).counter);
      }
    } catch (const std::exception& e) { // Redis went away mid-fill: the next check fills it
      HUDDLE_LOG(*logger, warning, "broker.delivery_deferred",
                 {{"group", item.group}, {"error", e.what()}});
    }
  }

  // The stream's entries after < id <= upto, at most `limit` (OrderedDelivery::Fetch).
  asio::awaitable<std::vector<Published>> fetch(GroupId group, MessageId after, MessageId upto,
                                                std::size_t limit) {
    const Reply page =
        co_await call(make_command("XRANGE", key(group, "log"), std::to_string(after + 1) + "-0",
                                   std::to_string(upto) + "-0", "COUNT", std::to_string(limit)));
    std::vector<Published> messages;
    for (const Reply& entry : page.elements) {
      Published published;
      published.message = entry_message(group, entry, &published.origin);
      if (published.message) messages.push_back(std::move(published));
    }
    co_return messages;
  }

  // Offers a message to the group's members here, leaving out its sender unless it echoes,
  // and acks an echoing sender after its own copy (OrderedDelivery::Offer).
  asio::awaitable<void> offer(Published published, bool skip_gap) {
    std::shared_ptr<Member> exclude;
    std::uint64_t serial = 0;
    if (own_serial(published.origin, serial)) {
      std::lock_guard lock(mutex);
      if (auto it = pending.find(serial); it != pending.end() && !it->second.echo)
        exclude = it->second.sender.lock();
    }
    co_await chat->deliver(std::move(published.message), exclude.get(), skip_gap);
    if (serial != 0) settle(serial, 0, true);
  }

  bool own_serial(std::string_view origin, std::uint64_t& serial) const {
    if (!origin.starts_with(node) || origin.size() <= node.size() || origin[node.size()] != ':')
      return false;
    origin.remove_prefix(node.size() + 1);
    const auto [ptr, ec] = std::from_chars(origin.data(), origin.data() + origin.size(), serial);
    return ec == std::errc() && ptr == origin.data() + origin.size();
  }

  // Records Redis's reply (id) or the message's delivery here; acks when the sender may have
  // it, and forgets the send once both happened.
  void settle(std::uint64_t serial, MessageId id, bool delivered) {
    OnStored ack;
    MessageId acked = 0;
    {
      std::lock_guard lock(mutex);
      auto it = pending.find(serial);
      if (it == pending.end()) return;
      Pending& send = it->second;
      if (id != 0) send.id = id;
      send.delivered = send.delivered || delivered;
      const bool ack_now = send.id != 0 && (!send.echo || send.delivered) && send.on_stored;
      if (ack_now) {
        ack = std::move(send.on_stored);
        acked = send.id;
      }
      if (send.id != 0 && send.delivered) pending.erase(it);
    }
    if (ack) ack(acked);
  }

  // For each group here, delivers what its counter says was published and not delivered.
  asio::awaitable<void> check_positions() {
    auto self = shared_from_this();
    std::vector<GroupId> groups;
    for (const auto& [group, count] : subscriptions)
      groups.push_back(group);
    if (groups.empty()) co_return;
    Command mget{"MGET"};
    for (GroupId group : groups)
      mget.push_back(key(group, "seq"));
    Reply counters;
    try {
      counters = co_await call(std::move(mget));
    } catch (const std::exception&) {
      co_return; // the next heartbeat or reconnect checks again
    }
    for (std::size_t i = 0; i < groups.size() && i < counters.elements.size(); ++i) {
      const std::string& text = counters.elements[i].text;
      MessageId id = 0;
      std::from_chars(text.data(), text.data() + text.size(), id);
      enqueue(Incoming{groups[i], CatchUp{id}});
    }
  }

  // --- presence and heartbeat ---

  // The users online here per group, counted per connection.
  std::size_t add_local(GroupId group, const std::string& user, int delta) {
    std::lock_guard lock(mutex);
    auto& users = local_users[group];
    std::size_t& count = users[user];
    count = static_cast<std::size_t>(static_cast<long long>(count) + delta);
    const std::size_t now = count;
    if (count == 0) users.erase(user);
    if (users.empty()) local_users.erase(group);
    return now;
  }

  std::string expiry() const { return std::to_string(now_ms() + presence_ttl.count()); }

  asio::awaitable<void> heartbeat() {
    const auto interval = std::max(presence_ttl / 3, std::chrono::milliseconds(1));
    while (!stopping) {
      heartbeat_timer.expires_after(interval);
      co_await heartbeat_timer.async_wait(use_tuple);
      if (stopping) break;
      if (!commands->connected()) continue;
      try {
        co_await beat();
      } catch (const std::exception& e) {
        HUDDLE_LOG(*logger, warning, "broker.heartbeat_failed", {{"error", e.what()}});
      }
    }
  }

  asio::awaitable<void> beat() {
    co_await check_epoch(); // also a Redis that lost its data without a reconnect (FLUSHALL)
    std::map<GroupId, std::vector<std::string>> here;
    {
      std::lock_guard lock(mutex);
      for (const auto& [group, users] : local_users)
        for (const auto& [user, count] : users)
          here[group].push_back(user);
      const auto now = std::chrono::steady_clock::now();
      std::erase_if(pending, [&](const auto& entry) {
        return now - entry.second.created > k_pending_lifetime;
      });
    }
    const std::string now = std::to_string(now_ms());
    for (auto& [group, users] : here) {
      std::vector<std::string> args{node, expiry(), now};
      args.insert(args.end(), users.begin(), users.end());
      std::vector<std::string> keys{key(group, "online"), key(group, "ch"), key(group, "seq")};
      const Reply last = co_await eval(heartbeat_script, std::move(keys), std::move(args));
      if (last.type == Reply::Type::integer) enqueue(Incoming{group, CatchUp{last.integer}});
      if (max_age.count() > 0) {
        std::vector<std::string> log{key(group, "log")};
        std::vector<std::string> oldest{std::to_string(now_ms() - max_age.count())};
        co_await eval(trim_script, std::move(log), std::move(oldest));
      }
    }
  }

  // --- state ---
  const asio::any_io_executor executor;
  const std::shared_ptr<Logger> logger;
  const std::string prefix;
  const std::string node; // this node's name in origins and presence entries
  const std::size_t max_per_group;
  const std::chrono::milliseconds max_age;
  const std::chrono::milliseconds presence_ttl;
  std::shared_ptr<redis::Connection> commands;
  std::shared_ptr<redis::Connection> subscriber;
  std::unique_ptr<ChatManager> chat;
  std::unique_ptr<OrderedDelivery> ordered;
  std::function<void()> owner_epoch_changed;
  std::atomic<bool> stopping{false};
  std::atomic<std::uint64_t> serials{0};

  // One per I/O executor (set_group_executors()), or one on `executor`; fixed once run.
  std::vector<std::unique_ptr<Lane>> lanes;
  // On the strand: subscriptions, heartbeats.
  asio::strand<asio::any_io_executor> strand;
  std::map<GroupId, std::size_t> subscriptions; // local joins per subscribed group
  asio::steady_timer heartbeat_timer;

  // Under the mutex.
  mutable std::mutex mutex;
  std::string epoch;
  std::array<std::string, k_scripts.size()> shas;
  std::unordered_map<std::uint64_t, Pending> pending;
  std::map<GroupId, std::map<std::string, std::size_t>> local_users;
};

RedisBroker::RedisBroker(asio::any_io_executor executor, const ServerConfig& config)
    : state_(std::make_shared<State>(std::move(executor), config)) {
  state_->start();
}

RedisBroker::~RedisBroker() {
  stop();
}

ChatManager& RedisBroker::chat() noexcept {
  return *state_->chat;
}

asio::awaitable<JoinResult> RedisBroker::join(GroupId group, std::shared_ptr<Member> member) {
  auto state = state_;
  const std::string user = member->user();
  co_await state->acquire(group);
  // Counted before the script runs, so a second tab here neither publishes a second join
  // nor lets the first tab's leave publish a leave while it is still here.
  const bool first_here = state->add_local(group, user, +1) == 1;
  JoinResult result;
  std::exception_ptr failure;
  try {
    const std::string now = std::to_string(now_ms());
    Reply online;
    if (first_here) {
      std::vector<std::string> keys{state->key(group, "online"), state->key(group, "ch")};
      std::vector<std::string> args{state->node, user, state->expiry(), now};
      online = co_await state->eval(join_script, std::move(keys), std::move(args));
    } else {
      online = co_await state->call(
          make_command("ZRANGEBYSCORE", state->key(group, "online"), now, "+inf"));
    }
    if (online.is_error()) throw Unavailable("redis: " + online.text);
    std::vector<std::string> users = first_here ? std::vector<std::string>() : users_of(online);
    if (first_here)
      for (const Reply& name : online.elements)
        users.push_back(name.text);
    std::erase(users, user);
    std::sort(users.begin(), users.end());
    result = co_await state->chat->connect(group, member, &users);
  } catch (...) {
    failure = std::current_exception();
  }
  if (failure || !result.added) co_await leave(group, member);
  if (failure) std::rethrow_exception(failure);
  co_return result;
}

asio::awaitable<void> RedisBroker::leave(GroupId group, std::shared_ptr<Member> member) {
  auto state = state_;
  co_await state->chat->disconnect(group, *member);
  if (state->add_local(group, member->user(), -1) == 0) {
    try {
      std::vector<std::string> keys{state->key(group, "online"), state->key(group, "ch")};
      std::vector<std::string> args{state->node, member->user(), std::to_string(now_ms())};
      co_await state->eval(leave_script, std::move(keys), std::move(args));
    } catch (const std::exception& e) { // its entry expires with the next heartbeats
      HUDDLE_LOG(*state->logger, warning, "broker.leave_not_recorded",
                 {{"group", group}, {"user", member->user()}, {"error", e.what()}});
    }
  }
  co_await state->release(group);
}

asio::awaitable<PublishError> RedisBroker::publish(GroupId group, MessageDraft draft,
                                                   std::shared_ptr<Member> sender, bool echo,
                                                   OnStored on_stored) {
  auto state = state_;
  if (!state->commands->connected()) co_return PublishError::broker_unavailable;
  const std::uint64_t serial = ++state->serials;
  {
    std::lock_guard lock(state->mutex);
    State::Pending& send = state->pending[serial];
    send.sender = sender;
    send.echo = echo;
    send.on_stored = std::move(on_stored);
  }
  Reply reply;
  std::string failure;
  try {
    std::vector<std::string> keys{state->key(group, "seq"), state->key(group, "log"),
                                  state->key(group, "ch"), state->prefix + "epoch"};
    std::vector<std::string> args{std::move(draft.from),
                                  std::move(draft.text),
                                  std::to_string(draft.ts_ms),
                                  state->node + ":" + std::to_string(serial),
                                  std::to_string(state->max_per_group),
                                  state->current_epoch(),
                                  std::to_string(state->max_age.count())};
    reply = co_await state->eval(publish_script, std::move(keys), std::move(args));
    if (reply.type != Reply::Type::integer) failure = reply.is_error() ? reply.text : "no id";
    if (reply.is_error() && reply.text.starts_with("EPOCH")) co_await state->check_epoch();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!failure.empty()) {
    // Not acked: a reply lost with the connection may still have stored it (the sender then
    // sees its message without an ack, as after a crash of one node).
    {
      std::lock_guard lock(state->mutex);
      state->pending.erase(serial);
    }
    HUDDLE_LOG(*state->logger, warning, "broker.send_failed",
               {{"group", group}, {"error", failure}});
    co_return PublishError::broker_unavailable;
  }
  state->settle(serial, reply.integer, false);
  co_return PublishError::none;
}

asio::awaitable<std::vector<MessagePtr>> RedisBroker::read(GroupId group, MessageId after,
                                                           MessageId upto, std::size_t limit,
                                                           std::size_t max_bytes) {
  auto state = state_;
  std::vector<MessagePtr> messages;
  if (upto <= after || limit == 0) co_return messages;
  const Reply page = co_await state->call(
      make_command("XRANGE", state->key(group, "log"), std::to_string(after + 1) + "-0",
                   std::to_string(upto) + "-0", "COUNT", std::to_string(limit)));
  std::size_t bytes = 0;
  for (const Reply& entry : page.elements) {
    if (!messages.empty() && bytes >= max_bytes) break;
    if (MessagePtr message = entry_message(group, entry, nullptr)) {
      bytes += message->frame()->size();
      messages.push_back(std::move(message));
    }
  }
  co_return messages;
}

asio::awaitable<std::vector<MessagePtr>> RedisBroker::read_latest(GroupId group,
                                                                  std::size_t limit) {
  auto state = state_;
  std::vector<MessagePtr> messages;
  if (limit == 0) co_return messages;
  const Reply page = co_await state->call(make_command("XREVRANGE", state->key(group, "log"), "+",
                                                       "-", "COUNT", std::to_string(limit)));
  for (auto entry = page.elements.rbegin(); entry != page.elements.rend(); ++entry)
    if (MessagePtr message = entry_message(group, *entry, nullptr))
      messages.push_back(std::move(message));
  co_return messages;
}

asio::awaitable<bool> RedisBroker::skips(GroupId, MessageId since, MessageId first_kept) {
  // Ids in Redis are consecutive (a failed append gives its id back), so any hole was
  // trimmed by retention.
  co_return first_kept > since + 1;
}

asio::awaitable<std::vector<std::string>> RedisBroker::online_users(GroupId group) {
  auto state = state_;
  const Reply online = co_await state->call(
      make_command("ZRANGEBYSCORE", state->key(group, "online"), std::to_string(now_ms()), "+inf"));
  co_return users_of(online);
}

std::string RedisBroker::epoch() const {
  return state_->current_epoch();
}

bool RedisBroker::available() const noexcept {
  // Connected is not enough: a join needs the history's epoch, read just after connecting
  // (a join in between was refused with 1011 while /healthz already said ok).
  return state_->commands->connected() && state_->subscriber->connected() && state_->has_epoch();
}

void RedisBroker::set_group_executors(const std::vector<asio::any_io_executor>& executors) {
  if (executors.empty()) return;
  state_->lanes.clear();
  for (const auto& executor : executors)
    state_->lanes.push_back(std::make_unique<State::Lane>(executor));
}

asio::awaitable<void> RedisBroker::run() {
  using namespace asio::experimental::awaitable_operators;
  auto state = state_;
  state->owner_epoch_changed = epoch_changed_;
  const auto executor = state->executor;
  co_await (asio::co_spawn(executor, state->commands->run(), asio::use_awaitable) &&
            asio::co_spawn(executor, state->subscriber->run(), asio::use_awaitable) &&
            asio::co_spawn(state->strand, state->heartbeat(), asio::use_awaitable));
}

void RedisBroker::stop() {
  if (state_->stopping.exchange(true)) return;
  state_->commands->stop();
  state_->subscriber->stop();
  asio::post(state_->strand, [state = state_] { state->heartbeat_timer.cancel(); });
}

bool RedisBroker::flush(std::chrono::milliseconds) {
  return true; // acks follow Redis's replies; nothing waits here for storage
}

} // namespace huddle::broker
