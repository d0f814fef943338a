#include "castor/packet/detail/mmsg_receiver.hpp"

#include <cerrno>

namespace castor::packet {

mmsg_receiver::mmsg_receiver(std::size_t batch, std::size_t frame_size)
    : frame_size_(frame_size), buffers_(new uint8_t[batch * frame_size]),
      iovs_(batch), msgs_(batch) {
  for (std::size_t i = 0; i < batch; ++i) {
    iovs_[i].iov_base = buffers_.get() + i * frame_size;
    iovs_[i].iov_len = frame_size;
    msgs_[i] = mmsghdr{};
    msgs_[i].msg_hdr.msg_iov = &iovs_[i];
    msgs_[i].msg_hdr.msg_iovlen = 1;
  }
}

int mmsg_receiver::receive(int fd, unsigned count) noexcept {
  for (;;) {
    const int got =
      ::recvmmsg(fd, msgs_.data(), count, MSG_DONTWAIT | MSG_TRUNC, nullptr);
    if (got >= 0)
      return got;
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      last_error_ = errno;
      unseen_error_ = errno;
      ++errors_;
    }
    return -1;
  }
}

} // namespace castor::packet
