// The rows of the session's table, each driven with real packets (encoded as a client would,
// decoded as a client would read them) over one real Broker shared by several sessions.
#include "mqtt/session.h"

#include <gtest/gtest.h>

#include <deque>
#include <list>

#include "mqtt/packet_encoder.h"
#include "mqtt/session_test_support.h"

namespace herald::mqtt {
namespace {

class SessionTest : public ::testing::Test {
 protected:
  SessionTest() {
    options.terms.max_session_expiry = 0;
    options.max_subscriptions = 4;
  }

  Client& open(ProtocolVersion version = ProtocolVersion::v5) {
    Client& client = clients.emplace_back();
    client.version = version;
    client.decoder.set_version(version);
    client.session =
        std::make_unique<Session>(options, broker, clock, client.sink, "127.0.0.1:50000");
    return client;
  }

  // CONNECT, the login granted (`grant` or everything), the CONNACK read.
  Client& connect(const std::string& client_id, Connect connect = {},
                  std::shared_ptr<const Grant> grant = nullptr) {
    Client& client = open(connect.version);
    connect.client_id = client_id;
    client.send(connect);
    EXPECT_TRUE(client.session->credentials_to_check());
    client.session->on_login(grant ? grant : everything);
    const auto connacks = client.read_all<Connack>();
    EXPECT_EQ(connacks.size(), 1u);
    if (!connacks.empty()) EXPECT_EQ(connacks[0].reason, ReasonCode::success);
    return client;
  }

  // Passes on what the broker queued for each session, as the connections would.
  void settle() {
    for (bool moved = true; moved;) {
      moved = false;
      for (Client& client : clients) {
        while (!client.sink->deliveries.empty()) {
          Outgoing outgoing = std::move(client.sink->deliveries.front());
          client.sink->deliveries.pop_front();
          client.session->on_delivery(std::move(outgoing));
          moved = true;
        }
        for (; client.sink->takeovers > 0; --client.sink->takeovers) {
          client.session->on_taken_over();
          moved = true;
        }
      }
    }
  }

  void subscribe(Client& client, const std::string& filter, QoS qos = QoS::at_least_once,
                 std::optional<uint32_t> identifier = std::nullopt) {
    Subscribe subscribe{.packet_id = 1, .subscription_identifier = identifier};
    subscribe.subscriptions.push_back({filter, SubscriptionOptions{.max_qos = qos}});
    client.send(subscribe);
    const auto subacks = client.read_all<Suback>();
    ASSERT_EQ(subacks.size(), 1u);
    EXPECT_EQ(subacks[0].reasons, std::vector<ReasonCode>{static_cast<ReasonCode>(qos)});
  }

  static Publish publish(const std::string& topic, QoS qos, uint16_t id = 0,
                         std::string payload = "hello") {
    return Publish{.qos = qos, .topic = topic, .packet_id = id, .payload = std::move(payload)};
  }

  ManualClock clock{kStart};
  std::shared_ptr<Broker> broker =
      std::make_shared<Broker>(BrokerLimits{.max_queued_messages = 10, .max_queued_bytes = 10000});
  SessionOptions options;
  const std::shared_ptr<const Grant> everything = std::make_shared<Grant>(
      "", std::vector<std::string>{"#"}, std::vector<std::string>{"#"}, std::vector<std::string>{});
  std::list<Client> clients;
};

TEST_F(SessionTest, ConnackWaitsForTheLoginAndSaysWhatIsNotOffered) {
  Client& client = open();
  Connect connect{.client_id = "c"};
  connect.properties.session_expiry_interval = 3600;
  client.send(connect);
  EXPECT_TRUE(client.read().empty()) << "nothing before the login is checked";
  EXPECT_FALSE(client.session->wants_input());
  client.session->on_login(everything);
  const auto connacks = client.read_all<Connack>();
  ASSERT_EQ(connacks.size(), 1u);
  EXPECT_EQ(connacks[0].reason, ReasonCode::success);
  EXPECT_FALSE(connacks[0].session_present);
  EXPECT_EQ(connacks[0].properties.session_expiry_interval, 0u) << "sessions end with connections";
  EXPECT_FALSE(connacks[0].properties.retain_available.has_value()) << "absent: available";
  EXPECT_TRUE(client.session->connected());
}

TEST_F(SessionTest, PacketsSentBehindTheConnectAreHandledAfterTheLogin) {
  Client& client = open();
  std::string bytes = encode_packet(Connect{.client_id = "c"}, ProtocolVersion::v5);
  bytes += encode_packet(Pingreq{}, ProtocolVersion::v5);
  client.session->on_bytes(bytes);
  client.session->on_login(everything);
  const std::vector<Packet> packets = client.read();
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<Connack>(packets[0]));
  EXPECT_TRUE(std::holds_alternative<Pingresp>(packets[1]));
}

TEST_F(SessionTest, ARefusedLoginGetsItsReasonInEitherVersion) {
  Client& v5 = open();
  v5.send(Connect{.client_id = "c", .username = "x", .password = "y"});
  v5.session->on_login(LoginRefusal::bad_credentials);
  EXPECT_EQ(v5.read_all<Connack>().at(0).reason, ReasonCode::bad_user_name_or_password);
  EXPECT_TRUE(v5.session->ended());

  Client& v3 = open(ProtocolVersion::v3_1_1);
  v3.send(Connect{.version = ProtocolVersion::v3_1_1, .keep_alive = 60, .client_id = "d"});
  v3.session->on_login(LoginRefusal::not_authorized);
  const std::string bytes = v3.session->take_output();
  EXPECT_EQ(bytes, std::string("\x20\x02\x00\x05", 4)) << "3.1.1's return code 5";
  EXPECT_TRUE(v3.session->ended());
}

TEST_F(SessionTest, AnythingButConnectFirstClosesWithoutAWord) {
  Client& client = open();
  client.session->on_bytes(encode_packet(Pingreq{}, ProtocolVersion::v5));
  EXPECT_TRUE(client.session->ended());
  EXPECT_FALSE(client.session->has_output());
}

TEST_F(SessionTest, AnUnknownProtocolLevelGetsConnack1) {
  Client& client = open();
  // CONNECT for level 3 (MQTT 3.1), which herald does not speak.
  client.session->on_bytes(std::string("\x10\x0F\x00\x06MQIsdp\x03\x02\x00\x3C\x00\x01x", 17));
  EXPECT_EQ(client.session->take_output(), std::string("\x20\x02\x00\x01", 4));
  EXPECT_TRUE(client.session->ended());
}

TEST_F(SessionTest, QoS1IsAcknowledgedOnceRoutedAndTheCopyCarriesTheSubscriptionId) {
  Client& subscriber = connect("sub");
  subscribe(subscriber, "a/+", QoS::at_least_once, 42);
  Client& publisher = connect("pub");
  Publish message = publish("a/b", QoS::at_least_once, 7);
  message.properties.user_properties = {{"k", "v"}};
  message.properties.response_topic = "reply/here";
  message.properties.correlation_data = "id-1";
  publisher.send(message);
  const auto pubacks = publisher.read_all<Puback>();
  ASSERT_EQ(pubacks.size(), 1u);
  EXPECT_EQ(pubacks[0].packet_id, 7);
  EXPECT_EQ(pubacks[0].reason, ReasonCode::success);
  settle();
  const auto copies = subscriber.read_all<Publish>();
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].topic, "a/b");
  EXPECT_EQ(copies[0].payload, "hello");
  EXPECT_EQ(copies[0].qos, QoS::at_least_once);
  EXPECT_NE(copies[0].packet_id, 0);
  EXPECT_EQ(copies[0].properties.subscription_identifiers, std::vector<uint32_t>{42});
  EXPECT_EQ(copies[0].properties.user_properties, message.properties.user_properties);
  EXPECT_EQ(copies[0].properties.response_topic, "reply/here");
  EXPECT_EQ(copies[0].properties.correlation_data, "id-1");
  subscriber.send(Puback{.packet_id = copies[0].packet_id});
  EXPECT_EQ(subscriber.session->counts().sent, 1u);
}

TEST_F(SessionTest, QoS1WithNobodySubscribedSaysSoInMqtt5) {
  Client& publisher = connect("pub");
  publisher.send(publish("nobody/here", QoS::at_least_once, 3));
  EXPECT_EQ(publisher.read_all<Puback>().at(0).reason, ReasonCode::no_matching_subscribers);
}

TEST_F(SessionTest, AnUnauthorizedPublishIsRefusedInMqtt5AndClosesMqtt311) {
  const auto limited =
      std::make_shared<Grant>("d", std::vector<std::string>{"mine/#"},
                              std::vector<std::string>{"#"}, std::vector<std::string>{});
  Client& v5 = connect("v5", {}, limited);
  v5.send(publish("theirs", QoS::at_least_once, 1));
  EXPECT_EQ(v5.read_all<Puback>().at(0).reason, ReasonCode::not_authorized);
  v5.send(publish("$SYS/x", QoS::exactly_once, 2));
  EXPECT_EQ(v5.read_all<Pubrec>().at(0).reason, ReasonCode::not_authorized);
  EXPECT_FALSE(v5.session->ended());

  Client& v3 =
      connect("v3", Connect{.version = ProtocolVersion::v3_1_1, .keep_alive = 60}, limited);
  v3.send(publish("theirs", QoS::at_least_once, 1));
  EXPECT_TRUE(v3.read_all<Puback>().empty()) << "no success it cannot back";
  EXPECT_TRUE(v3.session->ended());
}

TEST_F(SessionTest, QoS2IsRoutedOnceAndCompletedByPubrel) {
  Client& subscriber = connect("sub");
  subscribe(subscriber, "t", QoS::exactly_once);
  Client& publisher = connect("pub");
  publisher.send(publish("t", QoS::exactly_once, 9));
  EXPECT_EQ(publisher.read_all<Pubrec>().at(0).reason, ReasonCode::success);
  Publish again = publish("t", QoS::exactly_once, 9);
  again.dup = true;
  publisher.send(again);
  EXPECT_EQ(publisher.read_all<Pubrec>().size(), 1u) << "answered again";
  publisher.send(Pubrel{.packet_id = 9});
  EXPECT_EQ(publisher.read_all<Pubcomp>().at(0).reason, ReasonCode::success);
  publisher.send(Pubrel{.packet_id = 9});
  EXPECT_EQ(publisher.read_all<Pubcomp>().at(0).reason, ReasonCode::packet_identifier_not_found);
  settle();
  const auto copies = subscriber.read_all<Publish>();
  ASSERT_EQ(copies.size(), 1u) << "exactly once";
  subscriber.send(Pubrec{.packet_id = copies[0].packet_id});
  EXPECT_EQ(subscriber.read_all<Pubrel>().at(0).packet_id, copies[0].packet_id);
  subscriber.send(Pubcomp{.packet_id = copies[0].packet_id});
  EXPECT_FALSE(subscriber.session->ended());
}

// Found by fuzz_mqtt_session: the decoder's 0x84 for a CONNECT of an unknown level is no
// DISCONNECT reason; the second CONNECT is a protocol error whatever its level.
TEST_F(SessionTest, ASecondConnectOfAnUnknownLevelIsAProtocolErrorToo) {
  Client& client = connect("c");
  client.session->on_bytes(std::string("\x10\x0D\x00\x04MQTT\xFE\x02\x00\x3C\x00\x01x", 15));
  EXPECT_EQ(client.read_all<Disconnect>().at(0).reason, ReasonCode::protocol_error);
}

TEST_F(SessionTest, AnAcknowledgementOutOfTurnIsAProtocolError) {
  Client& subscriber = connect("sub");
  subscribe(subscriber, "t", QoS::at_least_once);
  Client& publisher = connect("pub");
  publisher.send(publish("t", QoS::at_least_once, 1));
  settle();
  const auto copies = subscriber.read_all<Publish>();
  ASSERT_EQ(copies.size(), 1u);
  subscriber.send(Pubcomp{.packet_id = 999});  // unknown: let pass
  EXPECT_FALSE(subscriber.session->ended());
  subscriber.send(Pubrec{.packet_id = copies[0].packet_id});  // a PUBREC to QoS 1
  EXPECT_EQ(subscriber.read_all<Disconnect>().at(0).reason, ReasonCode::protocol_error);
}

TEST_F(SessionTest, ARetainedPublishIsAnsweredOnlyOnceTheStoreHasIt) {
  Client& client = connect("c");
  Publish retained = publish("t", QoS::at_least_once, 5);
  retained.retain = true;
  client.send(retained);
  EXPECT_TRUE(client.read().empty()) << "no PUBACK before the commit";
  std::optional<StoreRequest> request = client.session->take_store_request();
  ASSERT_TRUE(request);
  ASSERT_EQ(request->publishes.size(), 1u);
  EXPECT_TRUE(request->publishes[0].message->retain);
  EXPECT_FALSE(client.session->take_store_request()) << "one request out at a time";
  client.session->on_stored(StoreResult{.message_ids = {"M1"}});
  const auto pubacks = client.read_all<Puback>();
  ASSERT_EQ(pubacks.size(), 1u);
  EXPECT_EQ(pubacks[0].reason, ReasonCode::success);
}

TEST_F(SessionTest, AFailedCommitIsRefusedWith0x80AndTheSessionGoesOn) {
  Client& client = connect("c");
  Publish retained = publish("t", QoS::at_least_once, 5);
  retained.retain = true;
  client.send(retained);
  client.send(Pingreq{});
  ASSERT_TRUE(client.session->take_store_request());
  EXPECT_TRUE(client.read().empty()) << "the PINGREQ waits behind the PUBLISH's answer";
  client.session->on_stored(StoreResult{.ok = false, .error = "disk full"});
  const std::vector<Packet> packets = client.read();
  ASSERT_EQ(packets.size(), 2u);
  EXPECT_EQ(std::get<Puback>(packets[0]).reason, ReasonCode::unspecified_error);
  EXPECT_TRUE(std::holds_alternative<Pingresp>(packets[1]));
  EXPECT_FALSE(client.session->ended());
}

TEST_F(SessionTest, ASecondConnectIsAProtocolError) {
  Client& client = connect("c");
  client.send(Connect{.client_id = "c"});
  EXPECT_EQ(client.read_all<Disconnect>().at(0).reason, ReasonCode::protocol_error);
  EXPECT_TRUE(client.session->ended());
}

TEST_F(SessionTest, AFlowViolationEndsTheConnectionWithItsReason) {
  Client& client = connect("c");
  Publish alias_misuse = publish("", QoS::at_most_once);
  alias_misuse.properties.topic_alias = 5;  // never set
  client.send(alias_misuse);
  EXPECT_EQ(client.read_all<Disconnect>().at(0).reason, ReasonCode::protocol_error);
}

TEST_F(SessionTest, ATakeoverDisconnectsTheOldConnectionAndPublishesItsWill) {
  Client& watcher = connect("watcher");
  subscribe(watcher, "wills/#");
  Connect with_will;
  with_will.will = Will{.topic = "wills/device", .payload = "gone", .qos = QoS::at_least_once};
  Client& first = connect("device", with_will);
  Client& second = connect("device");
  settle();
  EXPECT_EQ(first.read_all<Disconnect>().at(0).reason, ReasonCode::session_taken_over);
  EXPECT_TRUE(first.session->ended());
  EXPECT_FALSE(second.session->ended());
  const auto wills = watcher.read_all<Publish>();
  ASSERT_EQ(wills.size(), 1u);
  EXPECT_EQ(wills[0].payload, "gone");
}

TEST_F(SessionTest, TheWillGoesOutWhenTheConnectionBreaksOrTheClientAsksNotOtherwise) {
  Client& watcher = connect("watcher");
  subscribe(watcher, "wills/#");
  Connect with_will;
  with_will.will = Will{.topic = "wills/x", .payload = "w"};
  connect("normal", with_will).send(Disconnect{});
  connect("broken", with_will).session->on_connection_lost();
  connect("asked", with_will).send(Disconnect{.reason = ReasonCode::disconnect_with_will_message});
  connect("idle", with_will).session->on_keep_alive_expired();
  settle();
  EXPECT_EQ(watcher.read_all<Publish>().size(), 3u) << "broken, asked and idle; not normal";
}

TEST_F(SessionTest, KeepAliveExpiryIsTold) {
  Client& client = connect("c", Connect{.keep_alive = 30});
  EXPECT_EQ(client.session->keep_alive(), std::chrono::seconds(30));
  client.session->on_keep_alive_expired();
  EXPECT_EQ(client.read_all<Disconnect>().at(0).reason, ReasonCode::keep_alive_timeout);
}

TEST_F(SessionTest, AFullSubscriberQueueRefusesQoS1) {
  Client& subscriber = connect("slow");
  subscribe(subscriber, "t");
  Client& publisher = connect("pub");
  for (uint16_t id = 1; id <= 10; ++id) publisher.send(publish("t", QoS::at_least_once, id));
  publisher.read();
  // The subscriber's queue holds 10 (broker limit) while none is read or acknowledged.
  publisher.send(publish("t", QoS::at_least_once, 11));
  EXPECT_EQ(publisher.read_all<Puback>().at(0).reason, ReasonCode::quota_exceeded);
}

TEST_F(SessionTest, HigherPriorityGoesFirstWhenTheWindowOpens) {
  options.oldest_every = 0;
  Connect small_window;
  small_window.properties.receive_maximum = 1;
  Client& subscriber = connect("sub", small_window);
  subscribe(subscriber, "t");
  Client& publisher = connect("pub");
  for (const char* priority : {"0", "-5", "9", "3"}) {
    Publish message = publish("t", QoS::at_least_once, 1, priority);
    message.properties.user_properties = {{"priority", priority}};
    publisher.send(message);
    publisher.read();
  }
  settle();
  std::vector<std::string> order;
  for (int i = 0; i < 4; ++i) {
    const auto copies = subscriber.read_all<Publish>();
    ASSERT_EQ(copies.size(), 1u) << "one in flight at a time";
    order.push_back(copies[0].payload);
    subscriber.send(Puback{.packet_id = copies[0].packet_id});
  }
  EXPECT_EQ(order, (std::vector<std::string>{"0", "9", "3", "-5"}))
      << "the first was in flight before the rest came";
}

TEST_F(SessionTest, TheBrokersSnapshotShowsWhatIsInFlightAndWhatWaits) {
  Connect small_window;
  small_window.properties.receive_maximum = 1;
  Client& subscriber = connect("sub", small_window);
  subscribe(subscriber, "t");
  Client& publisher = connect("pub");
  for (uint16_t id = 1; id <= 3; ++id) publisher.send(publish("t", QoS::at_least_once, id));
  publisher.read();
  settle();
  const auto copies = subscriber.read_all<Publish>();
  ASSERT_EQ(copies.size(), 1u);

  SessionSnapshot shown = broker->snapshot(std::nullopt).sessions.at(1);
  EXPECT_EQ(shown.client_id, "sub");
  EXPECT_EQ(shown.peer, "127.0.0.1:50000");
  EXPECT_EQ(shown.connected, kStart);
  EXPECT_EQ(shown.subscriptions, 1u);
  EXPECT_EQ(shown.held, 3u);
  EXPECT_EQ(shown.in_flight, 1u);

  subscriber.send(Puback{.packet_id = copies[0].packet_id});
  shown = broker->snapshot(std::nullopt).sessions.at(1);
  EXPECT_EQ(shown.held, 2u) << "the acknowledged copy is released, the next one sent";
  EXPECT_EQ(shown.in_flight, 1u);
}

TEST_F(SessionTest, APriorityOutsideTheScaleIsRefused) {
  Client& publisher = connect("pub");
  Publish message = publish("t", QoS::at_least_once, 1);
  message.properties.user_properties = {{"priority", "urgent"}};
  publisher.send(message);
  EXPECT_EQ(publisher.read_all<Puback>().at(0).reason, ReasonCode::implementation_specific_error);
}

TEST_F(SessionTest, NoLocalKeepsAClientsOwnMessagesFromIt) {
  Client& client = connect("c");
  Subscribe subscribe{.packet_id = 1};
  subscribe.subscriptions.push_back({"t", SubscriptionOptions{.no_local = true}});
  client.send(subscribe);
  client.read();
  client.send(publish("t", QoS::at_most_once));
  settle();
  EXPECT_TRUE(client.read_all<Publish>().empty());
}

TEST_F(SessionTest, AMessageThatExpiredInTheQueueIsNotSentAndTheRestTellsItsTimeLeft) {
  Connect small_window;
  small_window.properties.receive_maximum = 1;
  Client& subscriber = connect("sub", small_window);
  subscribe(subscriber, "t");
  Client& publisher = connect("pub");
  Publish first = publish("t", QoS::at_least_once, 1, "first");
  first.properties.message_expiry_interval = 100;
  Publish second = publish("t", QoS::at_least_once, 2, "second");
  second.properties.message_expiry_interval = 10;
  publisher.send(first);
  publisher.send(second);
  settle();
  const auto in_flight = subscriber.read_all<Publish>();
  ASSERT_EQ(in_flight.size(), 1u);
  EXPECT_EQ(in_flight[0].properties.message_expiry_interval, 100u);
  clock.advance(std::chrono::seconds(20));
  subscriber.send(Puback{.packet_id = in_flight[0].packet_id});
  EXPECT_TRUE(subscriber.read_all<Publish>().empty()) << "second expired waiting";
  EXPECT_EQ(subscriber.session->counts().expired, 1u);
}

TEST_F(SessionTest, ACopyLargerThanTheClientTakesIsNotSent) {
  Connect small;
  small.properties.maximum_packet_size = 64;
  Client& subscriber = connect("sub", small);
  subscribe(subscriber, "t");
  Client& publisher = connect("pub");
  publisher.send(publish("t", QoS::at_least_once, 1, std::string(100, 'x')));
  publisher.send(publish("t", QoS::at_least_once, 2, "small"));
  settle();
  const auto copies = subscriber.read_all<Publish>();
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].payload, "small");
}

TEST_F(SessionTest, SubscriptionsAreLimitedAndUnsubscribeSaysWhatWasHeld) {
  Client& client = connect("c");
  Subscribe subscribe{.packet_id = 1};
  for (const char* filter : {"a", "b", "c", "d", "e", "a"}) {
    subscribe.subscriptions.push_back({filter, SubscriptionOptions{}});
  }
  client.send(subscribe);
  EXPECT_EQ(client.read_all<Suback>().at(0).reasons,
            (std::vector<ReasonCode>{ReasonCode::granted_qos_0, ReasonCode::granted_qos_0,
                                     ReasonCode::granted_qos_0, ReasonCode::granted_qos_0,
                                     ReasonCode::quota_exceeded, ReasonCode::granted_qos_0}));
  client.send(Unsubscribe{.packet_id = 2, .filters = {"a", "zzz"}});
  EXPECT_EQ(client.read_all<Unsuback>().at(0).reasons,
            (std::vector<ReasonCode>{ReasonCode::success, ReasonCode::no_subscription_existed}));
}

TEST_F(SessionTest, AForbiddenSubscriptionIsRefusedAlone) {
  const auto limited =
      std::make_shared<Grant>("d", std::vector<std::string>{}, std::vector<std::string>{"home/#"},
                              std::vector<std::string>{"home/secret/#"});
  Client& client = connect("c", {}, limited);
  Subscribe subscribe{.packet_id = 1};
  for (const char* filter : {"home/+/t", "other", "home/secret/x"}) {
    subscribe.subscriptions.push_back({filter, SubscriptionOptions{}});
  }
  client.send(subscribe);
  EXPECT_EQ(client.read_all<Suback>().at(0).reasons,
            (std::vector<ReasonCode>{ReasonCode::granted_qos_0, ReasonCode::not_authorized,
                                     ReasonCode::not_authorized}));
}

TEST_F(SessionTest, NoLocalOnASharedSubscriptionIsAProtocolError) {
  Client& client = connect("c");
  Subscribe subscribe{.packet_id = 1};
  subscribe.subscriptions.push_back({"$share/g/t", SubscriptionOptions{.no_local = true}});
  client.send(subscribe);
  EXPECT_EQ(client.read_all<Disconnect>().at(0).reason, ReasonCode::protocol_error);
}

TEST_F(SessionTest, ASessionExpiryCannotBeAddedOnTheWayOut) {
  Client& client = connect("c");
  Disconnect disconnect;
  disconnect.properties.session_expiry_interval = 60;
  client.send(disconnect);
  EXPECT_EQ(client.read_all<Disconnect>().at(0).reason, ReasonCode::protocol_error);
}

// A message is charged once from its routing until the last copy is written out (herald
// keeps no copy of what is in flight: sessions end with their connections for now).
TEST_F(SessionTest, MessagesAndPartPacketsAreChargedToTheSharedMemoryBudget) {
  InFlightBudget memory(4096);
  options.memory = &memory;
  Connect small_window;
  small_window.properties.receive_maximum = 1;
  Client& subscriber = connect("sub", small_window);
  subscribe(subscriber, "t");
  Client& publisher = connect("pub");
  publisher.send(publish("t", QoS::at_least_once, 1, std::string(1000, 'a')));
  publisher.send(publish("t", QoS::at_least_once, 2, std::string(2000, 'b')));
  settle();
  EXPECT_EQ(memory.in_use(), 2001u) << "the first went out, the second waits for the window";
  publisher.send(publish("t", QoS::at_least_once, 3, std::string(2500, 'c')));
  const auto pubacks = publisher.read_all<Puback>();
  ASSERT_EQ(pubacks.size(), 3u);
  EXPECT_EQ(pubacks[2].reason, ReasonCode::quota_exceeded);
  const auto first = subscriber.read_all<Publish>();
  ASSERT_EQ(first.size(), 1u);
  subscriber.send(Puback{.packet_id = first[0].packet_id});
  EXPECT_EQ(subscriber.read_all<Publish>().size(), 1u);
  EXPECT_EQ(memory.in_use(), 0u) << "given back once the last copy was written";
  // Part of a packet larger than the budget: the client is told the server is busy.
  const std::string big = encode_packet(publish("t", QoS::at_most_once, 0, std::string(8000, 'd')),
                                        ProtocolVersion::v5);
  publisher.session->on_bytes(std::string_view(big).substr(0, 5000));
  EXPECT_EQ(publisher.read_all<Disconnect>().at(0).reason, ReasonCode::server_busy);
  EXPECT_EQ(memory.in_use(), 0u);
}

TEST_F(SessionTest, AWillIsHeldAgainstTheSharedMemoryBudget) {
  InFlightBudget memory(4096);
  options.memory = &memory;
  Connect with_will{.client_id = "w"};
  with_will.will = Will{.topic = "w/t", .payload = std::string(3000, 'x')};
  Client& first = open();
  first.send(with_will);
  first.session->on_login(everything);
  EXPECT_EQ(first.read_all<Connack>().at(0).reason, ReasonCode::success);
  EXPECT_EQ(memory.in_use(), 3003u);
  Client& second = open();
  with_will.client_id = "v";
  second.send(with_will);
  second.session->on_login(everything);
  EXPECT_EQ(second.read_all<Connack>().at(0).reason, ReasonCode::quota_exceeded)
      << "two such wills do not fit";
  first.send(Disconnect{});
  EXPECT_EQ(memory.in_use(), 0u) << "given back when the session ends";
}

TEST_F(SessionTest, AClientThatDoesNotReadStopsBeingRead) {
  Client& client = connect("c");
  const std::string ping = encode_packet(Pingreq{}, ProtocolVersion::v5);
  const std::string pong = encode_packet(Pingresp{}, ProtocolVersion::v5);
  constexpr size_t kPings = 100'000;
  std::string many;
  for (size_t i = 0; i < kPings; ++i) many += ping;
  client.session->on_bytes(many);
  EXPECT_FALSE(client.session->wants_input()) << "64 KiB of answers wait unread";
  // Each write the connection makes takes a bounded backlog; the rest of the pings wait,
  // unanswered, until then.
  size_t answered = 0;
  while (client.session->has_output()) {
    const std::string backlog = client.session->take_output();
    EXPECT_LE(backlog.size(), Session::kOutputHighWater + pong.size());
    answered += backlog.size() / pong.size();
  }
  EXPECT_EQ(answered, kPings);
  EXPECT_TRUE(client.session->wants_input());
}

}  // namespace
}  // namespace herald::mqtt
