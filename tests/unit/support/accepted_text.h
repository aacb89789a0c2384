// The content of a message a session accepted, in one string, for tests of small messages
// (no body piece written ahead to a store).
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "smtp/server_session.h"

namespace herald::test_support {

inline std::string committed_text(const AcceptedMessage& message) {
  EXPECT_EQ(message.content.pieces_written, 0u) << "a small message has no piece written ahead";
  return message.content.header + message.content.rest;
}

}  // namespace herald::test_support
