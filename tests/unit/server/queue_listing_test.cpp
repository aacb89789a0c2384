#include "server/queue_listing.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "server/printable_text.h"

namespace herald {
namespace {

// Messages in memory, newest last; counts what a listing reads. A listing walks messages
// newest first and stops at its limit: the queue's own indexes are never walked.
class CountingStore final : public Store {
 public:
  void add(std::string id, std::vector<DeliveryState> states, std::string sender = "s@remote.test",
           int priority = 0) {
    MessageRecord m;
    m.id = std::move(id);
    m.size = 1234;
    m.envelope.mail_from = std::move(sender);
    m.qos.priority = priority;
    std::vector<Delivery> deliveries;
    for (size_t i = 0; i < states.size(); ++i) {
      Delivery d;
      d.message_id = m.id;
      d.index = static_cast<uint32_t>(i);
      d.mailbox = "user" + std::to_string(i) + "@Example.TEST";
      d.recipient = d.mailbox;
      d.state = states[i];
      deliveries.push_back(d);
    }
    messages_.push_back({m, deliveries});
  }

  void commit_message(const MessageRecord&, const ContentToCommit&, const std::vector<Delivery>&,
                      const std::vector<LedgerEvent>&) override {}
  void update_delivery(const Delivery&, const std::vector<LedgerEvent>&) override {}
  void append_event(std::string_view, const LedgerEvent&) override {}
  std::optional<MessageRecord> message(std::string_view) override { return std::nullopt; }
  std::optional<MessageContent> content(std::string_view) override { return std::nullopt; }
  void write_body_piece(std::string_view, uint32_t, std::string_view) override {}
  std::optional<std::string> body_piece(std::string_view, uint32_t) override {
    return std::nullopt;
  }
  void discard_body(std::string_view, uint32_t) override {}
  std::vector<Delivery> deliveries(std::string_view id) override {
    ++deliveries_read;
    for (const auto& [m, d] : messages_)
      if (m.id == id) return d;
    return {};
  }
  std::vector<LedgerEvent> ledger(std::string_view) override { return {}; }
  void apply(const StoreWrite&) override {}
  std::vector<DueDelivery> due_deliveries(const DuePosition&, TimePoint, size_t) override {
    ADD_FAILURE() << "queue list walked the due index";
    return {};
  }
  std::vector<Delivery> unfinished_deliveries(const std::optional<DeliveryKey>&, size_t) override {
    ADD_FAILURE() << "queue list walked every unfinished delivery";
    return {};
  }
  std::vector<DamagedRecord> damaged_records(size_t) override { return {}; }
  size_t remove_finished(TimePoint, size_t) override { return 0; }
  void for_each_message(const std::function<bool(const MessageRecord&)>& visit) override {
    for (auto it = messages_.rbegin(); it != messages_.rend(); ++it) {
      ++messages_visited;
      if (!visit(it->first)) return;
    }
  }
  // No MQTT state: a queue listing reads messages only.
  void for_each_mqtt_session(const std::function<bool(const MqttSessionRecord&)>&) override {}
  std::vector<MqttInboundMark> mqtt_inbound(std::string_view) override { return {}; }
  std::vector<RetainedMessage> retained(std::string_view, std::string_view, size_t) override {
    return {};
  }

  size_t messages_visited = 0;
  size_t deliveries_read = 0;

 private:
  std::vector<std::pair<MessageRecord, std::vector<Delivery>>> messages_;
};

std::string id_of(size_t n) {
  std::string id = std::to_string(n);
  return std::string(26 - id.size(), '0') + id;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

TEST(QueueListing, StopsReadingAtTheLimit) {
  CountingStore store;
  for (size_t i = 0; i < 10000; ++i) store.add(id_of(i), {DeliveryState::deferred});
  std::ostringstream out;
  QueueListFilter filter;
  filter.limit = 10;
  EXPECT_EQ(write_queue_listing(store, filter, out), 10u);
  EXPECT_EQ(store.messages_visited, 10u);
  EXPECT_EQ(store.deliveries_read, 10u);
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 11u);                    // the header and ten rows
  EXPECT_EQ(lines[1].substr(0, 26), id_of(9999));  // newest first
  EXPECT_EQ(lines[10].substr(0, 26), id_of(9990));
}

TEST(QueueListing, PassesOverFinishedMessagesUnlessAskedForAll) {
  CountingStore store;
  store.add(id_of(1), {DeliveryState::queued});
  store.add(id_of(2), {DeliveryState::delivered});
  std::ostringstream pending;
  EXPECT_EQ(write_queue_listing(store, QueueListFilter{}, pending), 1u);
  EXPECT_NE(pending.str().find(id_of(1)), std::string::npos);
  EXPECT_EQ(pending.str().find(id_of(2)), std::string::npos);

  std::ostringstream all;
  QueueListFilter every;
  every.all = true;
  EXPECT_EQ(write_queue_listing(store, every, all), 2u);
}

TEST(QueueListing, SaysTheQueueIsEmptyAndPrintsNoHeader) {
  CountingStore store;
  store.add(id_of(1), {DeliveryState::delivered});
  std::ostringstream out;
  EXPECT_EQ(write_queue_listing(store, QueueListFilter{}, out), 0u);
  EXPECT_EQ(out.str(), "queue is empty\n");
}

TEST(QueueListing, ColumnsHaveFixedWidthsAndLongSendersAreCut) {
  CountingStore store;
  store.add(id_of(1), {DeliveryState::deferred, DeliveryState::delivered},
            std::string(60, 'a') + "@remote.test");
  store.add(id_of(2), {DeliveryState::queued}, "");
  std::ostringstream out;
  write_queue_listing(store, QueueListFilter{}, out);
  const auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 4u);
  const size_t deliveries_column = lines[0].find("DELIVERIES");
  // The null sender and the long one leave DELIVERIES where the header has it.
  EXPECT_EQ(lines[1].find("user0@Example.TEST:queued"), deliveries_column);
  EXPECT_NE(lines[1].find("<>"), std::string::npos);
  EXPECT_EQ(lines[2].find("user0@Example.TEST:deferred"), deliveries_column);
  EXPECT_NE(lines[2].find("<" + std::string(30, 'a') + "~  "), std::string::npos);  // 32 wide
  // A second delivery goes on a line of its own, under the first.
  EXPECT_EQ(lines[3], std::string(deliveries_column, ' ') + "user1@Example.TEST:delivered");
}

TEST(QueueListing, FiltersByDestinationAndPriorityBeforeReadingDeliveries) {
  CountingStore store;
  store.add(id_of(1), {DeliveryState::queued}, "s@remote.test", 0);
  store.add(id_of(2), {DeliveryState::queued}, "s@remote.test", 5);
  std::ostringstream out;
  QueueListFilter filter;
  filter.min_priority = 1;
  filter.destination = "example.test";
  EXPECT_EQ(write_queue_listing(store, filter, out), 1u);
  EXPECT_NE(out.str().find(id_of(2)), std::string::npos);
  EXPECT_EQ(store.deliveries_read, 1u);  // the priority-0 message was passed over unread
  filter.destination = "other.test";
  std::ostringstream none;
  EXPECT_EQ(write_queue_listing(store, filter, none), 0u);
}

TEST(PrintableText, TruncatedMarksTheCutAndNeverSplitsACharacter) {
  EXPECT_EQ(truncated("abcdef", 6), "abcdef");
  EXPECT_EQ(truncated("abcdefg", 6), "abcde~");
  EXPECT_EQ(truncated("abcd\xc3\xa9xyz", 6), "abcd~");  // é would be cut after its first byte
}

}  // namespace
}  // namespace herald
