// Bodies written ahead of their commit (streaming DATA, issue 8): the store keeps them in
// pieces, reads them back a piece at a time, and drops those never committed, on request
// or at the next open after a crash.
#include <gtest/gtest.h>

#include <string>

#include "store/store.h"
#include "store/store_fixtures.h"
#include "support/stored_text.h"
#include "support/temp_dir.h"

namespace herald {
namespace {

using test_support::kStoreT0;
using test_support::stored_delivery;
using test_support::stored_message;
using test_support::TempDir;

constexpr size_t kPiece = MessageBody::kMaxPieceSize;

std::string piece_of(char c) {
  return std::string(kPiece, c);
}

class StoreBodyTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> open() { return open_rocksdb_store(temp_.path(), StoreMode::read_write); }

  // Message `id` with its body written ahead in `pieces` full pieces, then committed with
  // `rest` and one local delivery.
  void commit_streamed(Store& store, const std::string& id, int pieces, const std::string& rest) {
    for (int i = 0; i < pieces; ++i) {
      store.write_body_piece(id, static_cast<uint32_t>(i), piece_of(static_cast<char>('a' + i)));
    }
    const MessageRecord m = stored_message(id);
    store.commit_message(m,
                         ContentToCommit("Subject: big\r\n\r\n", static_cast<uint32_t>(pieces),
                                         pieces * kPiece, rest),
                         {stored_delivery(m, 0, kStoreT0)}, {});
  }

  static std::string expected_body(int pieces, const std::string& rest) {
    std::string body;
    for (int i = 0; i < pieces; ++i) body += piece_of(static_cast<char>('a' + i));
    return body + rest;
  }

  TempDir temp_;
};

TEST_F(StoreBodyTest, ABodyWrittenAheadIsReadBackPieceByPieceAfterItsCommit) {
  auto store = open();
  commit_streamed(*store, "A", 3, "the end\r\n");
  const std::optional<MessageContent> content = store->content("A");
  ASSERT_TRUE(content);
  EXPECT_EQ(content->header, "Subject: big\r\n\r\n");
  ASSERT_EQ(content->body->piece_count(), 4u);  // three ahead, the rest in the commit
  EXPECT_EQ(content->body->piece(1), piece_of('b'));
  EXPECT_EQ(content->body->size(), 3 * kPiece + 9);
  EXPECT_EQ(content->to_text(), "Subject: big\r\n\r\n" + expected_body(3, "the end\r\n"));
  const auto record = store->message("A");
  EXPECT_EQ(record->size, content->size());
  EXPECT_EQ(record->body_pieces, 4u);
}

TEST_F(StoreBodyTest, AWholeContentCommittedAtOnceIsCutIntoPieces) {
  auto store = open();
  const std::string body = std::string(kPiece + 10, 'x');
  const MessageRecord m = stored_message("A");
  store->commit_message(m, "Subject: s\r\n\r\n" + body, {stored_delivery(m, 0, kStoreT0)}, {});
  const auto content = store->content("A");
  ASSERT_TRUE(content);
  EXPECT_EQ(content->body->piece_count(), 2u);
  EXPECT_EQ(content->body->piece(1), std::string(10, 'x'));
  EXPECT_EQ(test_support::stored_text(*store, "A"), "Subject: s\r\n\r\n" + body);
}

TEST_F(StoreBodyTest, ABodyIsDroppedWithTheContentWhenItsLastDeliveryIsFinal) {
  auto store = open();
  commit_streamed(*store, "A", 2, "");
  Delivery d = store->deliveries("A").front();
  d.state = DeliveryState::delivered;
  store->update_delivery(d, std::vector<LedgerEvent>{});
  EXPECT_FALSE(store->content("A"));
  EXPECT_FALSE(store->body_piece("A", 0));
  EXPECT_FALSE(store->body_piece("A", 1));
}

TEST_F(StoreBodyTest, ADiscardedBodyLeavesNothing) {
  auto store = open();
  store->write_body_piece("A", 0, piece_of('a'));
  store->write_body_piece("A", 1, piece_of('b'));
  ASSERT_TRUE(store->body_piece("A", 1));
  store->discard_body("A", 2);
  EXPECT_FALSE(store->body_piece("A", 0));
  EXPECT_FALSE(store->body_piece("A", 1));
  EXPECT_FALSE(store->message("A"));
}

// A crash mid-transfer: the pieces never committed are gone after the next open, and a
// message committed beside them is whole.
TEST_F(StoreBodyTest, BodiesLeftArrivingByAStopAreDroppedAtTheNextOpen) {
  {
    auto store = open();
    store->write_body_piece("HALF", 0, piece_of('a'));
    store->write_body_piece("HALF", 1, piece_of('b'));
    commit_streamed(*store, "WHOLE", 2, "end\r\n");
  }
  auto store = open();
  EXPECT_FALSE(store->body_piece("HALF", 0));
  EXPECT_FALSE(store->body_piece("HALF", 1));
  EXPECT_EQ(test_support::stored_text(*store, "WHOLE"),
            "Subject: big\r\n\r\n" + expected_body(2, "end\r\n"));
  store.reset();
  // Nothing is left to drop a second time: the marks went with the pieces.
  EXPECT_EQ(test_support::stored_text(*open(), "WHOLE"),
            "Subject: big\r\n\r\n" + expected_body(2, "end\r\n"));
}

TEST_F(StoreBodyTest, AMissingPieceIsAReadErrorNotAShortBody) {
  auto store = open();
  commit_streamed(*store, "A", 1, "end\r\n");
  const auto content = store->content("A");
  ASSERT_TRUE(content);
  store->discard_body("A", 1);  // as a damaged disk might lose it
  EXPECT_THROW(content->body->piece(0), ContentReadError);
}

}  // namespace
}  // namespace herald
