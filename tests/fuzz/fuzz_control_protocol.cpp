// libFuzzer target: the control protocol's request decoder, which reads
// whatever any local client writes to the control socket, and the response
// decoder castorctl runs on the daemon's answers.
//
// Properties beyond "no crash, no exception":
// - a rejected request names its problem (the client gets that text);
// - an accepted request encodes to a line that decodes again to the same
//   line (castorctl's encoder and the daemon's decoder agree);
// - the error answer built from any rejection encodes to one line, since a
//   newline inside it would split the reply in two.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "control/control_protocol.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace castor::relay::control;
  const std::string line(reinterpret_cast<const char*>(data), size);

  const auto req = decode_request(line);
  if (!req) {
    if (req.error.empty())
      std::abort(); // a rejection without a reason
    const auto answer = encode_response(make_error(req.error));
    if (answer.find('\n') != std::string::npos)
      std::abort(); // the error line would split the reply
  } else {
    const auto encoded = encode_request(*req.value);
    const auto again = decode_request(encoded);
    if (!again || encode_request(*again.value) != encoded)
      std::abort(); // encoder and decoder disagree
  }

  const auto resp = decode_response(line);
  const auto echoed = encode_response(resp);
  if (echoed.find('\n') != std::string::npos)
    std::abort();
  return 0;
}
