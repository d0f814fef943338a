// libFuzzer target: the TOML config parser and rule validator, which read
// the operator's files (and, through `include`, files in relay.d/). A bad
// file must give errors, never a crash or an exception, and every error
// must carry a message.
//
// `include` reads and globs real paths, absolute ones too: an input naming
// /dev/zero or "/*/*/*" would hang the run or read the host. Inputs that
// could spell the key (literally, or through a \u escape in a quoted key)
// are skipped; the include code is covered by the unit tests instead.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/config_parser.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace castor::relay;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const std::string_view unsafe : {"include", "\\u", "\\U"})
    if (text.find(unsafe) != std::string_view::npos)
      return 0;
  const auto result =
    parse_config_string(text, "/nonexistent-castor-fuzz/relay.toml");
  for (const auto& e : result.errors)
    if (e.message.empty())
      std::abort(); // an error the operator cannot read
  return 0;
}
