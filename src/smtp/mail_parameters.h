// The ESMTP parameters of MAIL FROM (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8,
// RFC 3461 RET and ENVID, RFC 2852 BY, RFC 6710 MT-PRIORITY) and RCPT TO (RFC 3461 NOTIFY
// and ORCPT): what follows the path on the command line.
#pragma once

#include <string_view>

#include "smtp/command.h"

namespace herald {

// Parse "KEY=VALUE KEY2 ..." into command.mail (or command.rcpt). False on a syntax error
// (a malformed keyword or value, a value a parameter does not take, a parameter given
// twice). A keyword herald does not know is not a syntax error: the first one sets
// command.error to unsupported_parameter (555, RFC 5321 4.1.1.11) and the rest are parsed.
bool parse_mail_parameters(std::string_view text, Command& command);
bool parse_rcpt_parameters(std::string_view text, Command& command);

}  // namespace herald
