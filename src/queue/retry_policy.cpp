#include "queue/retry_policy.h"

#include <algorithm>

#include "util/time_text.h"

namespace herald {

Duration retry_delay(uint32_t failures, const QueueConfig& config, double jitter) {
  if (config.retry_backoff.empty()) return Duration::zero();  // load_config refuses this
  const size_t step =
      std::min<size_t>(std::max<uint32_t>(failures, 1) - 1, config.retry_backoff.size() - 1);
  const Duration base = config.retry_backoff[step];
  const double stretch = kMaxRetryJitter * std::clamp(jitter, 0.0, 1.0);
  return base + std::chrono::duration_cast<Duration>(
                    std::chrono::duration<double, Duration::period>(base.count() * stretch));
}

TimePoint retry_deadline(TimePoint received_at, const QueueConfig& config) {
  return received_at + config.max_age;
}

std::optional<TimePoint> next_attempt_after_failure(uint32_t failures, TimePoint received_at,
                                                    TimePoint now, const QueueConfig& config,
                                                    double jitter) {
  const TimePoint deadline = retry_deadline(received_at, config);
  if (now >= deadline) return std::nullopt;
  return std::min(now + retry_delay(failures, config, jitter), deadline);
}

std::string expiry_reason(const QueueConfig& config) {
  return "retry budget spent (max_age " + duration_text(config.max_age) + ")";
}

}  // namespace herald
