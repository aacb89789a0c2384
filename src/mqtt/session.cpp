#include "mqtt/session.h"

#include <utility>

#include "mqtt/packet_encoder.h"
#include "mqtt/topic.h"
#include "util/message_id.h"

namespace herald::mqtt {

namespace {

ReasonCode connack_refusal(LoginRefusal refusal) {
  return refusal == LoginRefusal::bad_credentials ? ReasonCode::bad_user_name_or_password
                                                  : ReasonCode::not_authorized;
}

}  // namespace

Session::Session(const SessionOptions& options, std::shared_ptr<Broker> broker, const Clock& clock,
                 std::shared_ptr<SessionSink> sink, std::string peer)
    : options_(options),
      broker_(std::move(broker)),
      clock_(clock),
      sink_(std::move(sink)),
      peer_(std::move(peer)),
      decoder_(Sender::client, options.limits),
      queue_(options.oldest_every),
      input_charge_(options.memory),
      will_charge_(options.memory) {}

Session::~Session() {
  detach_from_broker();
}

bool Session::v5() const {
  return terms_ && terms_->version == ProtocolVersion::v5;
}

const std::string& Session::client_id() const {
  static const std::string none;
  return terms_ ? terms_->client_id : none;
}

std::chrono::seconds Session::keep_alive() const {
  return terms_ ? terms_->keep_alive : std::chrono::seconds(0);
}

bool Session::wants_input() const {
  return (phase_ == Phase::awaiting_connect || phase_ == Phase::connected) &&
         output_.size() < kOutputHighWater && !held_;
}

std::string Session::take_output() {
  std::string out = std::move(output_);
  output_.clear();
  handle_buffered();  // what waited for the backlog to go, and copies the queue holds
  charge_input();
  return out;
}

void Session::send(const Packet& packet) {
  output_ += encode_packet(packet, terms_ ? terms_->version : ProtocolVersion::v3_1_1);
}

void Session::on_bytes(std::string_view bytes) {
  if (ended_) return;
  decoder_.feed(bytes);
  handle_buffered();
  charge_input();
}

// The decoder holds at most one packet's bytes plus one read; a hostile client trickling
// maximum-size packets over many connections is what the global budget stops.
void Session::charge_input() {
  if (ended_) return;
  input_charge_.reset();
  if (!input_charge_.grow_to(decoder_.buffered())) {
    end(ReasonCode::server_busy, phase_ == Phase::connected);
  }
}

// Stops at a login to check, at a packet that must wait for the store, and at the end; what
// is left waits in the decoder.
void Session::handle_buffered() {
  while ((phase_ == Phase::awaiting_connect || phase_ == Phase::connected) &&
         output_.size() < kOutputHighWater) {
    if (held_) {
      if (must_wait(*held_)) break;
      const std::unique_ptr<Packet> packet = std::move(held_);
      handle(*packet);
      continue;
    }
    DecodeResult result = decoder_.next();
    if (std::holds_alternative<NeedMore>(result)) break;
    if (const auto* error = std::get_if<DecodeError>(&result)) {
      on_decode_error(*error);
      break;
    }
    ++packets_read_;
    Packet& packet = std::get<Packet>(result);
    if (phase_ == Phase::connected && must_wait(packet)) {
      held_ = std::make_unique<Packet>(std::move(packet));
      break;
    }
    handle(packet);
  }
  if (phase_ == Phase::connected) pump();
}

// The table: before CONNECT the decoder lets nothing else through; after it, a second
// CONNECT and AUTH (no enhanced authentication is offered) are protocol errors, and the
// packets only a server sends never get past the decoder.
void Session::handle(Packet& packet) {
  if (phase_ == Phase::awaiting_connect) {
    on_connect(std::get<Connect>(packet));
    return;
  }
  std::visit(
      [this](auto& p) {
        using T = std::decay_t<decltype(p)>;
        if constexpr (std::is_same_v<T, Publish>) {
          on_publish(p);
        } else if constexpr (std::is_same_v<T, Puback>) {
          on_puback(p);
        } else if constexpr (std::is_same_v<T, Pubrec>) {
          on_pubrec(p);
        } else if constexpr (std::is_same_v<T, Pubrel>) {
          on_pubrel(p);
        } else if constexpr (std::is_same_v<T, Pubcomp>) {
          on_pubcomp(p);
        } else if constexpr (std::is_same_v<T, Subscribe>) {
          on_subscribe(p);
        } else if constexpr (std::is_same_v<T, Unsubscribe>) {
          on_unsubscribe(p);
        } else if constexpr (std::is_same_v<T, Pingreq>) {
          send(Pingresp{});
        } else if constexpr (std::is_same_v<T, Disconnect>) {
          on_disconnect(p);
        } else {
          end(ReasonCode::protocol_error, true);
        }
      },
      packet);
}

void Session::on_decode_error(const DecodeError& error) {
  if (phase_ == Phase::awaiting_connect) {
    // MQTT 3.1.1 3.1.2.2 (and MQTT 5 3.1.2.2, which allows it): a level herald does not
    // speak gets CONNACK 0x01 in the 3.1.1 form every client can read; anything else that
    // is wrong before a CONNECT is accepted just closes the connection.
    if (error.reason == ReasonCode::unsupported_protocol_version) {
      output_ += encode_packet(Connack{.reason = error.reason}, ProtocolVersion::v3_1_1);
    }
    end(std::nullopt, false);
    return;
  }
  end(error.reason, true);
}

void Session::refuse_connect(ReasonCode reason) {
  send(Connack{.reason = reason});
  connect_.reset();
  end(std::nullopt, false);
}

void Session::on_connect(Connect& connect) {
  const std::string fresh_id = "herald-" + new_message_id(clock_.now());
  ConnectOutcome outcome = settle_connect(connect, options_.terms, fresh_id);
  terms_.emplace();
  terms_->version = connect.version;
  if (!outcome.terms) {
    send(outcome.connack);
    end(std::nullopt, false);
    return;
  }
  terms_ = std::move(outcome.terms);
  decoder_.set_version(connect.version);
  if (connect.properties.authentication_method) {
    refuse_connect(ReasonCode::bad_authentication_method);  // no enhanced authentication
    return;
  }
  session_expiry_was_zero_ = connect.properties.session_expiry_interval.value_or(0) == 0;
  credentials_ = Credentials{connect.username, connect.password};
  pending_connack_ = std::make_unique<Connack>(std::move(outcome.connack));
  connect_ = std::make_unique<Connect>(std::move(connect));
  phase_ = Phase::awaiting_login;
}

void Session::on_login(const LoginResult& result) {
  if (phase_ != Phase::awaiting_login) return;
  credentials_.reset();
  if (const auto* refusal = std::get_if<LoginRefusal>(&result)) {
    refuse_connect(connack_refusal(*refusal));
    return;
  }
  grant_ = std::get<std::shared_ptr<const Grant>>(result);
  if (connect_->will && !grant_->may_publish(connect_->will->topic)) {
    refuse_connect(ReasonCode::not_authorized);
    return;
  }
  Connack connack = std::move(*pending_connack_);
  pending_connack_.reset();
  // Only the will is kept; the credentials go now. A will waits as long as the connection
  // lasts, so it is held against the shared memory budget like a message.
  if (connect_->will) {
    const Will& will = *connect_->will;
    if (!will_charge_.grow_to(will.topic.size() + will.payload.size())) {
      refuse_connect(ReasonCode::quota_exceeded);
      return;
    }
    will_ = std::make_unique<Will>(std::move(*connect_->will));
  }
  connect_.reset();
  expiry_interval_ = terms_->session_expiry;
  // [MQTT-3.1.2-24]: nothing larger than the client takes, the CONNACK included.
  const std::string bytes = encode_packet(connack, terms_->version);
  if (terms_->client_maximum_packet_size && bytes.size() > *terms_->client_maximum_packet_size) {
    end(std::nullopt, false);
    return;
  }
  attachment_ = broker_->attach(
      SessionOrigin{.client_id = terms_->client_id,
                    .peer = peer_,
                    .version = terms_->version,
                    .connected = clock_.now()},
      sink_, SessionLife{.clean_start = terms_->clean_start, .expiry_interval = expiry_interval_});
  inbound_.emplace(*terms_);
  outbound_.emplace(*terms_);
  aliases_.emplace(terms_->client_topic_alias_maximum);
  phase_ = Phase::connected;
  if (persistent() || attachment_->discarded) {
    connect_persistent(std::move(connack));
  } else {
    output_ += bytes;
  }
  handle_buffered();
}

void Session::on_disconnect(const Disconnect& disconnect) {
  // MQTT 5 3.14.2.2.2: a session that had no expiry cannot be given one on the way out.
  if (session_expiry_was_zero_ && disconnect.properties.session_expiry_interval.value_or(0) > 0) {
    end(ReasonCode::protocol_error, true);
    return;
  }
  // A persistent session may be given a new expiry, within herald's maximum.
  if (const auto& expiry = disconnect.properties.session_expiry_interval; expiry && persistent()) {
    expiry_interval_ = std::min(*expiry, options_.terms.max_session_expiry);
  }
  end(std::nullopt, disconnect.reason == ReasonCode::disconnect_with_will_message);
}

void Session::on_taken_over() {
  if (phase_ == Phase::connected) end(ReasonCode::session_taken_over, true);
}

void Session::on_keep_alive_expired() {
  end(phase_ == Phase::connected ? std::optional(ReasonCode::keep_alive_timeout) : std::nullopt,
      phase_ == Phase::connected);
}

void Session::on_server_shutdown() {
  end(phase_ == Phase::connected ? std::optional(ReasonCode::server_shutting_down) : std::nullopt,
      phase_ == Phase::connected);
}

void Session::on_connection_lost() {
  end(std::nullopt, phase_ == Phase::connected);
}

// MQTT 3.1.1 has no DISCONNECT from the server: the connection just closes. The will goes
// out when the connection ends any way but a normal DISCONNECT (MQTT 5 3.1.2.5), at once or
// after its delay (leave_will).
void Session::end(std::optional<ReasonCode> disconnect_reason, bool publish_will) {
  if (ended_) return;
  if (disconnect_reason && v5() && phase_ == Phase::connected) {
    // A decode error may name a reason DISCONNECT cannot carry (0x84 for a second CONNECT
    // of an unknown level): that is a protocol error too, and said as one.
    const ReasonCode reason = reason_code_allowed(PacketType::disconnect, *disconnect_reason)
                                  ? *disconnect_reason
                                  : ReasonCode::protocol_error;
    send(Disconnect{.reason = reason});
  }
  const bool was_connected = phase_ == Phase::connected;
  phase_ = Phase::ended;
  ended_ = true;
  credentials_.reset();
  input_charge_.reset();
  if (attachment_ && persistent()) write_record();  // the session's end, with its expiry
  if (attachment_ && was_connected && !persistent() && terms_->session_expiry > 0) {
    next_request_.erase_session = true;  // a DISCONNECT set the expiry to 0
  }
  detach_from_broker();
  if (was_connected && publish_will && will_) leave_will();
  attachment_.reset();
  held_.reset();
  connect_.reset();
  will_.reset();
  will_charge_.reset();
}

}  // namespace herald::mqtt
