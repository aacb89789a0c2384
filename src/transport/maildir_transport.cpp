#include "transport/maildir_transport.h"

#include <cerrno>
#include <cstring>
#include <optional>

namespace herald {
namespace {

namespace fs = std::filesystem;

// A failed file operation, carried from the step that failed to attempt(), which turns it into
// an AttemptResult. It never leaves this file.
struct FileError {
  std::string step;  // "open /…/tmp/NAME"
  int error;         // errno
};

[[noreturn]] void fail(int error, std::string_view step, const fs::path& path) {
  throw FileError{std::string(step) + " " + path.string(), error};
}

// Each MaildirFiles call returns 0 or an errno.
void check(int error, std::string_view step, const fs::path& path) {
  if (error != 0) fail(error, step, path);
}

AttemptResult result(AttemptResult::Outcome outcome, std::string reply) {
  AttemptResult r;
  r.outcome = outcome;
  r.reply = std::move(reply);
  return r;
}

// RFC 3463 codes lead each reply, so that a DSN built from it later says the right thing.
AttemptResult failure_result(const FileError& e) {
  const std::string detail = e.step + ": " + std::strerror(e.error);
  switch (e.error) {
    case ENOSPC:
      return result(AttemptResult::Outcome::temporary, "4.3.1 mail system full (" + detail + ")");
    case EDQUOT:
      return result(AttemptResult::Outcome::temporary, "4.2.2 mailbox full (" + detail + ")");
    case ENOENT:
    case EACCES:
    case EPERM:
    case EROFS:
    case ENOTDIR:
      return result(AttemptResult::Outcome::temporary,
                    "4.3.0 mailbox directory not usable (" + detail +
                        "); check that data_dir exists and heraldd may write to data_dir/mail");
    default:
      return result(AttemptResult::Outcome::temporary,
                    "4.3.0 local delivery failed (" + detail + ")");
  }
}

// A name that is safe as one directory level: it cannot climb out of mail_root, hide as a
// dot file, or be cut short by a NUL.
bool is_safe_path_segment(std::string_view name) {
  return !name.empty() && name.front() != '.' && name.find('/') == std::string_view::npos &&
         name.find("..") == std::string_view::npos && name.find('\0') == std::string_view::npos;
}

// Maildir: a host name in a file name has '/' as \057 and ':' as \072.
std::string file_name_host(std::string_view hostname) {
  std::string out;
  for (char c : hostname) {
    if (c == '/') {
      out += "\\057";
    } else if (c == ':') {
      out += "\\072";
    } else {
      out += c;
    }
  }
  return out;
}

// <received seconds>.H<message id>_<delivery index>.<host>: unique per delivery (the id is)
// and the same on every attempt, which is what lets a repeated attempt find its own file.
std::string file_name(const MessageRecord& message, const Delivery& delivery,
                      std::string_view host) {
  const auto seconds = to_unix_ms(message.received_at) / 1000;
  return std::to_string(seconds) + ".H" + message.id + "_" + std::to_string(delivery.index) + "." +
         std::string(host);
}

// The two trace headers local delivery adds above the message (RFC 5321 4.4: Return-Path
// is added by the final delivery).
std::string trace_fields(const MessageRecord& message, const Delivery& delivery) {
  return "Return-Path: <" + message.envelope.mail_from + ">\nDelivered-To: " + delivery.mailbox +
         "\n";
}

// Creates `dir` (mode 0700: mail is private) unless it exists. A new directory's entry is
// made durable in its parent: otherwise a crash could take the whole mailbox directory,
// and with it a file we reported delivered.
void ensure_directory(MaildirFiles& files, const fs::path& dir) {
  const int made = files.make_directory(dir);
  if (made == 0) {
    std::string step;
    check(files.sync_directory(dir.parent_path(), step), step, dir.parent_path());
  } else if (made != EEXIST) {
    fail(made, "mkdir", dir);
  }
}

void ensure_maildir(MaildirFiles& files, const fs::path& mail_root, const fs::path& maildir) {
  ensure_directory(files, mail_root);
  ensure_directory(files, maildir.parent_path().parent_path());  // <domain>
  ensure_directory(files, maildir.parent_path());                // <domain>/<local>
  ensure_directory(files, maildir);
  for (const char* sub : {"tmp", "new", "cur"}) ensure_directory(files, maildir / sub);
}

// Where an earlier attempt left the file: new/NAME, or cur/NAME:2,FLAGS once a mail client
// has seen it. cur/ is read only when `look_in_cur`, as it can hold many files.
std::optional<fs::path> existing_copy(MaildirFiles& files, const fs::path& maildir,
                                      const std::string& name, bool look_in_cur) {
  const fs::path in_new = maildir / "new" / name;
  const int looked = files.look_up(in_new);
  if (looked == 0) return in_new;
  if (looked != ENOENT) fail(looked, "stat", in_new);
  if (!look_in_cur) return std::nullopt;

  const fs::path cur = maildir / "cur";
  std::optional<fs::path> found;
  std::string step;
  const int scanned = files.scan_directory(
      cur,
      [&](std::string_view entry_name) {
        if (entry_name != name && !entry_name.starts_with(name + ":")) return false;
        found = cur / entry_name;
        return true;
      },
      step);
  check(scanned, step, cur);
  return found;
}

// Maildir files use Unix line ends; stored content has CRLF only in pairs (bare CR and LF
// are refused at DATA), so turning each CRLF into LF loses nothing. Writes the content a
// piece at a time, each converted on its way: a CR that ends a piece is held back until the
// next piece shows whether it is half of a CRLF split between the two.
class UnixLineEndWriter {
 public:
  UnixLineEndWriter(MaildirFile& file, const fs::path& path) : file_(file), path_(path) {}

  void write(std::string_view text) {
    if (text.empty()) return;
    std::string out;
    out.reserve(text.size() + 1);
    if (held_cr_ && text.front() != '\n') out += '\r';
    held_cr_ = false;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\r') {
        if (i + 1 == text.size()) {
          held_cr_ = true;
          continue;
        }
        if (text[i + 1] == '\n') continue;
      }
      out += text[i];
    }
    check(file_.write(out), "write", path_);
  }

  // A CR at the very end of the content was no line end's: it is written as it was.
  void finish() {
    if (held_cr_) check(file_.write("\r"), "write", path_);
    held_cr_ = false;
  }

 private:
  MaildirFile& file_;
  const fs::path& path_;
  bool held_cr_ = false;
};

// The rename (or an earlier attempt's) lives in the directory's data until that is synced;
// without this a crash could undo it, losing a message the queue records as delivered.
void sync_entry(DirectorySyncGroups& groups, const fs::path& dir) {
  std::string step;
  if (const int error = groups.sync(dir, step); error != 0) fail(error, step, dir);
}

// Writes the file in tmp/ (the trace fields, then the content's header and body pieces, one
// piece in memory at a time) and moves it into new/, whose entry the caller then makes
// durable; each step is needed for "delivered" to survive a crash (the Maildir protocol,
// made durable). Throws FileError, or ContentReadError when a body piece cannot be read.
void write_and_rename(MaildirFiles& files, const fs::path& maildir, const std::string& name,
                      std::string_view trace, const MessageContent& content) {
  const fs::path tmp = maildir / "tmp" / name;
  const fs::path destination = maildir / "new" / name;

  // O_TRUNC: a crash mid-write leaves a partial tmp/NAME that the next attempt simply
  // rewrites. Readers never look in tmp/, so nobody sees it half written.
  // On a FileError the file is closed as `file` goes.
  std::unique_ptr<MaildirFile> file;
  check(files.open_for_write(tmp, file), "open", tmp);
  try {
    check(file->write(trace), "write", tmp);
    UnixLineEndWriter writer(*file, tmp);
    writer.write(content.header);
    content.read_body([&](std::string_view piece) {
      writer.write(piece);
      return true;
    });
    writer.finish();
    // Without this fsync the rename below could reach the disk before the data: after a
    // crash new/ would hold an empty or partial message that we had reported delivered.
    check(file->sync(), "fsync", tmp);
  } catch (const ContentReadError&) {
    // The message may never be read whole (it bounces in the end): nothing of it stays.
    // A failed unlink leaves a tmp/ file nobody reads, which the next attempt truncates.
    file.reset();
    files.unlink(tmp);
    throw;
  }
  // close() reports late write errors on some file systems (NFS); a lost write must not
  // pass for a delivery.
  check(file->close(), "close", tmp);

  // rename() is atomic: a reader sees either no file in new/ or the whole message.
  check(files.rename(tmp, destination), "rename", tmp);
}

std::optional<AttemptResult> unsafe_mailbox(std::string_view mailbox, std::string_view local,
                                            std::string_view domain) {
  if (is_safe_path_segment(local) && is_safe_path_segment(domain)) return std::nullopt;
  // RFC 3463 5.1.3: bad destination mailbox address syntax.
  return result(AttemptResult::Outcome::permanent, "5.1.3 mailbox address " + std::string(mailbox) +
                                                       " cannot name a mailbox directory safely");
}

AttemptResult delivered(const fs::path& file, std::string reply) {
  AttemptResult r = result(AttemptResult::Outcome::delivered, std::move(reply));
  r.fields.emplace_back("mailbox", file.string());
  return r;
}

}  // namespace

MaildirTransport::MaildirTransport(std::filesystem::path mail_root, std::string hostname,
                                   MaildirFiles& files)
    : mail_root_(fs::absolute(mail_root).lexically_normal()),
      files_(files),
      hostname_(file_name_host(hostname)),
      started_at_(std::chrono::system_clock::now()),
      new_dir_syncs_([&files](const fs::path& dir, std::string& failed_step) {
        return files.sync_directory(dir, failed_step);
      }) {}

AttemptResult MaildirTransport::attempt(const MessageRecord& message, const Delivery& delivery,
                                        const MessageContent& content) {
  const std::string& mailbox = delivery.mailbox;
  const auto at = mailbox.rfind('@');
  const std::string_view local = std::string_view(mailbox).substr(0, at);
  const std::string_view domain =
      at == std::string::npos ? std::string_view() : std::string_view(mailbox).substr(at + 1);
  if (auto refused = unsafe_mailbox(mailbox, local, domain)) return *refused;

  const fs::path maildir = mail_root_ / domain / local / "Maildir";
  const std::string name = file_name(message, delivery, hostname_);
  // A message from before this process started may have been delivered just before a
  // crash, and moved to cur/ by a mail client since; so may one attempted before.
  const bool look_in_cur = delivery.attempts > 0 || message.received_at < started_at_;
  try {
    ensure_maildir(files_, mail_root_, maildir);
    if (auto copy = existing_copy(files_, maildir, name, look_in_cur)) {
      // An attempt that crashed between its rename and the sync of new/ left a file whose
      // entry may not be durable yet; this sync makes it so before it counts as delivered.
      sync_entry(new_dir_syncs_, copy->parent_path());
      return delivered(*copy, "2.0.0 already in the mailbox (an earlier attempt delivered it)");
    }
    write_and_rename(files_, maildir, name, trace_fields(message, delivery), content);
    sync_entry(new_dir_syncs_, maildir / "new");
    return delivered(maildir / "new" / name, "2.0.0 delivered to Maildir");
  } catch (const FileError& e) {
    return failure_result(e);
  } catch (const ContentReadError& e) {
    // Nothing reached new/; the next attempt writes the file from the start.
    return result(AttemptResult::Outcome::temporary,
                  std::string("4.3.0 reading the message from the store failed: ") + e.what());
  }
}

}  // namespace herald
