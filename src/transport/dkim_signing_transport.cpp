#include "transport/dkim_signing_transport.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "mime/from_domain.h"

namespace herald {

bool vouches_for_origin(const Envelope& envelope, const std::vector<IpNetwork>& trusted_networks) {
  if (!envelope.authenticated_as.empty() || envelope.listener == "dsn") return true;
  return std::any_of(trusted_networks.begin(), trusted_networks.end(),
                     [&](const IpNetwork& network) { return network.contains(envelope.peer_ip); });
}

DkimSigningTransport::DkimSigningTransport(Transport& inner,
                                           const Swappable<DkimSigningTable>& keys,
                                           std::vector<IpNetwork> trusted_networks,
                                           const Clock& clock)
    : inner_(inner), keys_(keys), trusted_networks_(std::move(trusted_networks)), clock_(clock) {}

AttemptResult DkimSigningTransport::attempt(const MessageRecord& message, const Delivery& delivery,
                                            const MessageContent& content) {
  const std::string fields = signature_fields(message, content);
  if (fields.empty()) return inner_.attempt(message, delivery, content);
  return inner_.attempt(message, delivery, content.with_fields_on_top(fields));
}

std::vector<AttemptResult> DkimSigningTransport::attempt_together(
    const MessageRecord& message, const std::vector<Delivery>& deliveries,
    const MessageContent& content) {
  const std::string fields = signature_fields(message, content);
  if (fields.empty()) return inner_.attempt_together(message, deliveries, content);
  return inner_.attempt_together(message, deliveries, content.with_fields_on_top(fields));
}

std::string DkimSigningTransport::signature_fields(const MessageRecord& message,
                                                   const MessageContent& content) const {
  const std::shared_ptr<const DkimSigningTable> keys = keys_.current();
  if (keys->empty()) return {};
  if (!vouches_for_origin(message.envelope, trusted_networks_)) {
    spdlog::debug("dkim-sign skipped id={} reason=\"origin not vouched for\"", message.id);
    return {};
  }
  const auto from_domain = rfc5322_from_domain(content.header);
  if (const auto* error = std::get_if<FromDomainError>(&from_domain)) {
    spdlog::warn("dkim-sign failed id={} reason=\"{}\"; sending unsigned", message.id,
                 error->reason);
    return {};
  }
  const std::string& domain = std::get<std::string>(from_domain);
  const std::span<const DkimSigner> signers = keys->signers_for(domain);
  if (signers.empty()) {
    spdlog::debug("dkim-sign skipped id={} reason=\"no [[dkim]] key for {}\"", message.id, domain);
    return {};
  }
  const TimePoint now = clock_.now();
  std::string fields;
  for (const DkimSigner& signer : signers) {
    if (signer.has_signed(content.header)) continue;
    auto field = signer.sign(content, now);
    if (const auto* error = std::get_if<DkimSignError>(&field)) {
      spdlog::warn("dkim-sign failed id={} d={} s={} reason=\"{}\"; sending unsigned", message.id,
                   signer.domain(), signer.selector(), error->reason);
      return {};
    }
    spdlog::debug("dkim-signed id={} d={} s={} a={}", message.id, signer.domain(),
                  signer.selector(), to_string(signer.algorithm()));
    fields += std::get<std::string>(field);
  }
  return fields;
}

}  // namespace herald
