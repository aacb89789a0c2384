// What the phase files of ServerSession (server_session*.cpp) share to build their steps. Only
// those files include it.
#pragma once

#include <utility>

#include "smtp/server_session.h"

namespace herald::session_steps {

// A reply, and what the connection does after sending it.
inline SessionStep answer(Reply r, SessionStep::Next next = SessionStep::Next::read_command) {
  return SessionStep{std::move(r), next, 0};
}

// No reply yet: the connection does `next` first (a check, a commit) and reports back.
inline SessionStep work(SessionStep::Next next) {
  return SessionStep{std::nullopt, next, 0};
}

}  // namespace herald::session_steps
