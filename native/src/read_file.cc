// readInto(fd, position, bytes) -> bytes read: a large range of an open file read straight into a
// typed array by several threads at once. A weight file's records are read into fresh memory, and
// under a hypervisor each fresh page costs a fault while the kernel copies into it: one thread read
// ResNet-50's 98 MB into fresh huge pages in 29-149 ms, two threads in 15-32. The other threads read
// their own contiguous stretches; the count is what was read from the start without a gap (short
// only where the file ends), so the caller can name the byte where it ended.
#include <napi.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <functional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "plan.h"

namespace convkit {

namespace {

// The whole of [at, at + length) from `fd` into `into`, or less where the file ends; errno on failure.
struct Stretch {
  uint8_t* into;
  size_t length;
  off_t at;
  size_t done = 0;
  int error = 0;
};

void readStretch(int fd, Stretch& s) {
  while (s.done < s.length) {
    ssize_t n = pread(fd, s.into + s.done, s.length - s.done, s.at + static_cast<off_t>(s.done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      s.error = errno;
      return;
    }
    if (n == 0) return;  // the file ended
    s.done += static_cast<size_t>(n);
  }
}

// Stretches of at least 1 MiB each, at most one per core (and 8).
constexpr size_t kStretchBytes = size_t{1} << 20;

}  // namespace

Napi::Value ReadInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int64_t fd = integer(info, 0, "readInto", "fd");
  if (fd > INT_MAX) throw Napi::RangeError::New(env, "readInto: argument 'fd' is not a file descriptor");
  const int64_t position = integer(info, 1, "readInto", "position");
  if (info.Length() < 3 || !info[2].IsTypedArray() ||
      info[2].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    throw Napi::TypeError::New(env, "readInto: argument 'bytes' must be a Uint8Array");
  auto bytes = info[2].As<Napi::Uint8Array>();
  const size_t length = bytes.ByteLength();
  const size_t cores = std::max(1u, std::thread::hardware_concurrency());
  const size_t count = std::max<size_t>(1, std::min({cores, size_t{8}, length / kStretchBytes}));
  const size_t each = (length + count - 1) / count;
  std::vector<Stretch> stretches;
  for (size_t i = 0; i < count && i * each < length; i++)
    stretches.push_back(
        {bytes.Data() + i * each, std::min(each, length - i * each), static_cast<off_t>(position + i * each)});
  std::vector<std::thread> helpers;
  std::vector<size_t> here{0};  // the stretches this thread reads: the first, and any whose helper cannot start
  for (size_t i = 1; i < stretches.size(); i++) {
    try {
      helpers.emplace_back(readStretch, static_cast<int>(fd), std::ref(stretches[i]));
    } catch (const std::system_error&) {
      here.push_back(i);
    }
  }
  for (size_t i : here) readStretch(static_cast<int>(fd), stretches[i]);
  for (auto& t : helpers) t.join();
  size_t read = 0;
  for (const Stretch& s : stretches) {
    if (s.error != 0)
      throw Napi::Error::New(env, std::string("readInto: ") + std::strerror(s.error) + " at byte " +
                                      std::to_string(s.at + static_cast<off_t>(s.done)));
    read += s.done;
    if (s.done < s.length) break;  // the file ended here
  }
  return Napi::Number::New(env, static_cast<double>(read));
}
CONVKIT_EXPORT(readInto, ReadInto);

}  // namespace convkit
