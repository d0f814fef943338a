#include "send_plan.hpp"

#include <algorithm>

namespace castor::tools {

std::vector<thread_plan> plan_threads(uint32_t streams, unsigned threads,
                                      uint64_t count_per_stream) {
  threads = std::max(1u, threads);
  auto end = count_per_stream == 0 ? UINT64_MAX : count_per_stream;
  std::vector<thread_plan> plan(threads);
  if (streams >= threads) {
    for (uint32_t s = 0; s < streams; ++s)
      plan[s % threads].lanes.push_back(send_lane{s, 0, 1, end});
    for (auto& t : plan)
      t.rate_share = static_cast<double>(t.lanes.size()) / streams;
  } else {
    for (unsigned t = 0; t < threads; ++t) {
      for (uint32_t s = 0; s < streams; ++s)
        plan[t].lanes.push_back(send_lane{s, t, threads, end});
      plan[t].rate_share = 1.0 / threads;
    }
  }
  // A thread whose lanes are all empty (count smaller than threads) would
  // only spin; drop it.
  plan.erase(std::remove_if(plan.begin(), plan.end(),
                            [](const thread_plan& t) {
                              return std::none_of(t.lanes.begin(),
                                                  t.lanes.end(),
                                                  [](const send_lane& l) {
                                                    return l.first < l.end;
                                                  });
                            }),
             plan.end());
  double total = 0;
  for (const auto& t : plan)
    total += t.rate_share;
  for (auto& t : plan)
    t.rate_share = total > 0 ? t.rate_share / total : 0;
  return plan;
}

} // namespace castor::tools
