// ContentReader: the pieces it hands out join to the content, it reads at most one piece
// ahead of the one handed out, and a piece that cannot be read fails the next() that wants
// it, not the read ahead beside a write.
#include "transport/content_reader.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <functional>
#include <future>
#include <memory>
#include <string>

#include "support/pieced_body.h"

namespace herald {
namespace {

namespace asio = boost::asio;
using test_support::pieced_content;

// Runs `test` as a coroutine on an io_context of its own, with its reads on a pool.
void run_coroutine(const std::function<asio::awaitable<void>(asio::any_io_executor)>& test) {
  asio::io_context io;
  asio::thread_pool pool(1);
  std::future<void> done = asio::co_spawn(io, test(pool.get_executor()), asio::use_future);
  io.run();
  done.get();  // rethrows what the test threw
}

TEST(ContentReader, HandsOutTheHeaderWithTheFirstPieceThenEachPieceReadingOneAhead) {
  const auto pieced = pieced_content("Subject: x\r\n\r\n", "aaaabbbbcccc", {4, 8});
  const auto content = std::make_shared<const MessageContent>(pieced.content);
  const std::shared_ptr<test_support::PiecedBody> body = pieced.body;
  run_coroutine([&](asio::any_io_executor blocking) -> asio::awaitable<void> {
    ContentReader reader(content, blocking);
    EXPECT_EQ(body->reads(), 0u);
    EXPECT_EQ(co_await reader.next(), "Subject: x\r\n\r\naaaa");
    EXPECT_EQ(body->reads(), 1u);
    co_await reader.read_ahead();
    co_await reader.read_ahead();  // one is ahead already: no second read
    EXPECT_EQ(body->reads(), 2u);
    EXPECT_FALSE(reader.can_read_ahead());
    EXPECT_EQ(co_await reader.next(), "bbbb");
    EXPECT_FALSE(reader.done());
    EXPECT_EQ(co_await reader.next(), "cccc");
    EXPECT_TRUE(reader.done());
    co_await reader.read_ahead();  // nothing is left to read
    EXPECT_EQ(body->reads(), 3u);
  });
}

TEST(ContentReader, AMessageWithNoBodyPiecesIsItsHeaderAlone) {
  const auto content = std::make_shared<const MessageContent>(
      MessageContent{"Subject: x\r\n\r\n", std::make_shared<InlineBody>("")});
  run_coroutine([&](asio::any_io_executor blocking) -> asio::awaitable<void> {
    ContentReader reader(content, blocking);
    EXPECT_EQ(co_await reader.next(), "Subject: x\r\n\r\n");
    EXPECT_TRUE(reader.done());
  });
}

TEST(ContentReader, APieceThatCannotBeReadFailsTheNextThatWantsIt) {
  const auto pieced = pieced_content("Subject: x\r\n\r\n", "aaaabbbb", {4});
  pieced.body->fail_at(1);
  const auto content = std::make_shared<const MessageContent>(pieced.content);
  run_coroutine([&](asio::any_io_executor blocking) -> asio::awaitable<void> {
    ContentReader reader(content, blocking);
    EXPECT_EQ(co_await reader.next(), "Subject: x\r\n\r\naaaa");
    co_await reader.read_ahead();  // fails quietly: it runs beside a write
    bool thrown = false;
    try {
      co_await reader.next();
    } catch (const ContentReadError& e) {
      thrown = std::string(e.what()) == "piece 1 lost";
    }
    EXPECT_TRUE(thrown);
  });
}

}  // namespace
}  // namespace herald
