// The reports on one message that `herald trace` and `herald queue show` print (Postfix
// keeps this reading apart from the command too: showq.c beside postqueue.c). Every value a
// peer chose goes through printable_text.h.
#pragma once

#include <ostream>
#include <vector>

#include "store/records.h"

namespace herald {

// `herald trace`: the envelope and QoS (a field a line), a blank line, the ledger as
// "TIME  TYPE  [RECIPIENT]  key=value …" in aligned columns, a blank line, and one summary
// line per delivery. Writes to `out`; never throws except what `out` throws.
void write_trace_report(std::ostream& out, const MessageRecord& message,
                        const std::vector<LedgerEvent>& ledger,
                        const std::vector<Delivery>& deliveries);

// `herald queue show`: the envelope and QoS as in write_trace_report, then each delivery
// in full, a field a line, after a blank line.
void write_show_report(std::ostream& out, const MessageRecord& message,
                       const std::vector<Delivery>& deliveries);

// "<sender>" as every report shows the envelope sender ("<>" for the null sender).
std::string sender_text(const MessageRecord& message);

}  // namespace herald
