#include "server/mqtt_listener.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <deque>

#include "mqtt/access_policy.h"
#include "mqtt/broker.h"
#include "mqtt/session.h"
#include "mqtt/will_sweep.h"
#include "server/connection_registry.h"
#include "server/mqtt_connection.h"
#include "server/tcp_acceptor.h"

namespace herald {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// crypt(3) logins run here, apart from the commit pool, so that a burst of devices logging
// in does not hold up synced writes.
constexpr int kLoginThreads = 2;
// Persistent sessions' store requests block on fsync; several at once share one (the
// store's group commit).
constexpr int kStoreThreads = 4;
// How often offline sessions are checked for their expiry, and wills for their delay: a
// will is published up to this late.
constexpr auto kExpirySweep = std::chrono::seconds(1);

bool is_mqtt(ListenProtocol protocol) {
  return protocol == ListenProtocol::mqtt || protocol == ListenProtocol::mqtts;
}

mqtt::SessionOptions session_options(const MqttConfig& mqtt, const QueueConfig& queue) {
  mqtt::SessionOptions options;
  options.terms.max_keepalive = mqtt.max_keepalive;
  options.terms.max_session_expiry = static_cast<uint32_t>(
      std::min<int64_t>(mqtt.max_session_expiry.count(), mqtt::kSessionNeverExpires));
  options.terms.receive_maximum = static_cast<uint16_t>(mqtt.receive_maximum);
  options.terms.max_in_flight = static_cast<uint16_t>(mqtt.max_in_flight);
  options.terms.maximum_packet_size = mqtt.max_packet_size;
  options.terms.topic_alias_maximum = static_cast<uint16_t>(mqtt.topic_alias_maximum);
  options.terms.max_client_id_length = mqtt.max_client_id_length;
  options.limits.max_packet_size = mqtt.max_packet_size;
  options.limits.topic.max_length = mqtt.max_topic_length;
  options.limits.topic.max_levels = mqtt.max_topic_levels;
  options.max_subscriptions = mqtt.max_subscriptions;
  options.oldest_every = queue.fair_share_every;
  return options;
}

}  // namespace

class MqttFace::Impl {
 public:
  Impl(asio::io_context& io, const Config& config, const Clock& clock, asio::ssl::context& tls,
       Store& store)
      : shared_(std::make_shared<MqttShared>(
            session_options(config.mqtt, config.queue),
            mqtt::BrokerLimits{config.mqtt.max_queued_messages, config.mqtt.max_queued_bytes},
            config, clock, store)),
        clock_(clock),
        registry_(config.mqtt.max_connections, config.mqtt.max_connections_per_ip),
        login_pool_(kLoginThreads),
        store_pool_(kStoreThreads),
        sweep_(io) {
    if (config.mqtt.queue_full == QueueFullAction::dead_letter) {
      throw ConfigError(config.source.filename().string() +
                        ": [mqtt] queue_full = \"dead-letter\" is not available yet");
    }
    for (const ListenConfig& listen : config.listen) {
      if (!is_mqtt(listen.protocol)) continue;
      services_.push_back(MqttServices{
          shared_, clock, login_pool_.get_executor(), store_pool_.get_executor(),
          listen.protocol == ListenProtocol::mqtts ? &tls : nullptr, config.mqtt.connect_timeout});
      const MqttServices& services = services_.back();
      protocols_.push_back(listen.protocol);
      acceptors_.push_back(std::make_unique<TcpAcceptor>(
          io, listen, [this, &services](tcp::socket socket, PeerInfo peer) {
            serve(std::move(socket), std::move(peer), services);
          }));
    }
  }

  ~Impl() {
    login_pool_.join();
    store_pool_.join();
  }

  void start() {
    if (acceptors_.empty()) return;
    const size_t restored = shared_->keeper.restore_sessions();
    spdlog::info("mqtt sessions restored={}", restored);
    arm_sweep();
    for (size_t i = 0; i < acceptors_.size(); ++i) {
      acceptors_[i]->start();
      spdlog::info("listening protocol={} address={}", to_string(protocols_[i]),
                   acceptors_[i]->address());
    }
  }

  void shutdown() {
    stopping_ = true;
    sweep_.cancel();
    for (const auto& acceptor : acceptors_) acceptor->stop();
    registry_.shutdown_all();
  }

  void reload_rights(const Config& config) {
    shared_->policy.replace(
        std::make_shared<const mqtt::AccessPolicy>(config.mqtt, config.devices));
    spdlog::info("reload: mqtt devices={} allow_anonymous={}", config.devices.size(),
                 config.mqtt.allow_anonymous);
  }

  ConnectionRegistry& registry() { return registry_; }
  const mqtt::Broker& broker() const { return *shared_->broker; }
  bool empty() const { return acceptors_.empty(); }

 private:
  void serve(tcp::socket socket, PeerInfo peer, const MqttServices& services) {
    const std::optional<uint64_t> id = registry_.admit(peer.ip);
    if (!id) {
      spdlog::warn("mqtt refused peer={}:{} reason=too-many-connections", peer.ip, peer.port);
      boost::system::error_code ignored;
      socket.close(ignored);
      return;
    }
    std::function<void()> stop =
        start_mqtt_connection(std::move(socket), std::move(peer), services, *id,
                              [this, id = *id] { registry_.release(id); });
    registry_.set_stop(*id, std::move(stop));
  }

  // The sweep runs on the store pool (ending a session walks its queue in the store; a will
  // may be committed). Sessions end first, so that a will whose session expired now goes in
  // the same sweep.
  void arm_sweep() {
    sweep_.expires_after(kExpirySweep);
    sweep_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopping_) return;
      asio::post(store_pool_, [this] {
        shared_->keeper.end_expired_sessions();
        mqtt::publish_due_wills(*shared_->broker, shared_->keeper, clock_.now());
        asio::post(sweep_.get_executor(), [this] {
          if (!stopping_) arm_sweep();
        });
      });
    });
  }

  const std::shared_ptr<MqttShared> shared_;
  const Clock& clock_;
  ConnectionRegistry registry_;
  asio::thread_pool login_pool_;
  asio::thread_pool store_pool_;
  asio::steady_timer sweep_;
  std::atomic<bool> stopping_{false};
  std::deque<MqttServices> services_;  // one per listener; each connection takes a copy
  std::vector<ListenProtocol> protocols_;
  std::vector<std::unique_ptr<TcpAcceptor>> acceptors_;
};

MqttFace::MqttFace(asio::io_context& io, const Config& config, const Clock& clock,
                   asio::ssl::context& tls, Store& store)
    : impl_(std::make_unique<Impl>(io, config, clock, tls, store)) {}

MqttFace::~MqttFace() = default;

void MqttFace::start() {
  impl_->start();
}

void MqttFace::reload_rights(const Config& config) {
  if (!impl_->empty()) impl_->reload_rights(config);
}

void MqttFace::shutdown() {
  impl_->shutdown();
}

bool MqttFace::wait_until_empty(std::chrono::milliseconds timeout) {
  return impl_->registry().wait_until_empty(timeout);
}

size_t MqttFace::open_connections() const {
  return impl_->registry().open_connections();
}

bool MqttFace::empty() const {
  return impl_->empty();
}

mqtt::SessionList MqttFace::list_sessions(std::optional<size_t> limit) const {
  return impl_->broker().snapshot(limit);
}

}  // namespace herald
