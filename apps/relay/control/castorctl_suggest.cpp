#include "control/castorctl_suggest.hpp"

#include <algorithm>
#include <cstddef>

namespace castor::relay::castorctl {

namespace {

/// Levenshtein distance, for "did you mean".
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min(
        {row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

} // namespace

std::string nearest(const std::string& word,
                    const std::vector<std::string>& verbs) {
  std::string best;
  size_t best_d = std::max<size_t>(2, word.size() / 2) + 1;
  for (const auto& v : verbs) {
    auto d =
      v.rfind(word, 0) == 0 && !word.empty() ? 1 : edit_distance(word, v);
    if (d < best_d) {
      best_d = d;
      best = v;
    }
  }
  return best;
}

std::string first_word(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "-u" || a == "--socket" || a == "-t" || a == "--timeout") {
      ++i;
      continue;
    }
    if (!a.empty() && a[0] != '-')
      return a;
  }
  return {};
}

} // namespace castor::relay::castorctl
