#pragma once

// "Did you mean": a mistyped castorctl command names the nearest verb.

#include <string>
#include <vector>

namespace castor::relay::castorctl {

/// The verb nearest to `word`, or "" when none is close.
std::string nearest(const std::string& word,
                    const std::vector<std::string>& verbs);

/// The first word on the line that is not an option or an option's value:
/// the verb the user meant.
std::string first_word(const std::vector<std::string>& args);

} // namespace castor::relay::castorctl
