// Local delivery: writes a message into the recipient's Maildir, the layout qmail defined
// and Dovecot, Postfix and mail clients read (https://cr.yp.to/proto/maildir.html).
#pragma once

#include <filesystem>
#include <string>

#include "queue/transport.h"
#include "transport/directory_sync_group.h"
#include "transport/maildir_files.h"

namespace herald {

class MaildirTransport final : public Transport {
 public:
  // The mailbox of local@domain is mail_root/<domain>/<local>/Maildir/ (mail_root is
  // data_dir/mail; it is created on first use, its parent must exist). `hostname` ends every
  // file name, as Maildir asks. Every file operation goes through `files` (the real disk in
  // production; tests put one that watches calls or loses power), which must outlive the
  // transport. Does no I/O.
  MaildirTransport(std::filesystem::path mail_root, std::string hostname,
                   MaildirFiles& files = posix_maildir_files());

  // Writes `content`, headed by Return-Path and Delivered-To, with Unix line ends, a body
  // piece at a time (never the whole message in memory), to new/ with a file name
  // derived from the message id and delivery index, so that a repeated attempt finds the
  // file (in new/, or in cur/ where a mail client moved it) instead of writing a second
  // copy. Returns delivered (fields: mailbox=<absolute path of the file>) only after the
  // file and its directory entry are on stable storage; temporary for disk, quota and
  // permission problems and a body piece that cannot be read; permanent when the address
  // cannot name a mailbox directory safely.
  // Thread-safe; blocks on fsync. Each file gets an fsync of its own; concurrent deliveries
  // into one Maildir share the fsyncs of its new/ (DirectorySyncGroups).
  AttemptResult attempt(const MessageRecord& message, const Delivery& delivery,
                        const MessageContent& content) override;

 private:
  std::filesystem::path mail_root_;
  MaildirFiles& files_;
  std::string hostname_;  // as it may appear in a Maildir file name
  TimePoint started_at_;  // messages received before it may be resumed after a crash
  DirectorySyncGroups new_dir_syncs_;
};

}  // namespace herald
