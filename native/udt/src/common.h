// Shared pieces of the UDT addon: error mapping, socket options, addresses, and the
// process-wide registry that lets exit paths stop native threads before UDT is torn down.
#pragma once

#include <napi.h>
#include <udt/udt.h>

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace cumulus_udt {

// UDT reports errors through a thread-local; capture code and text right after the failing
// call, on the thread that made it, and carry them to the JS thread as plain data.
struct UdtError {
  int code = 0;
  std::string message;
};

// Not a UDT code: the peer broke the addon's framing (see connection.cc). Surfaces in JS as
// code "ERR_UDT_PROTOCOL" without a udtCode.
constexpr int kProtocolError = -1000;

UdtError LastError();
UdtError ErrorFromCode(int code);
Napi::Error MakeJsError(Napi::Env env, const UdtError& err, const std::string& context);

// Values of -1 mean "leave UDT's default". Validated by lib/index.ts; the addon only
// re-checks types.
struct SocketOptions {
  int64_t mss = -1;
  int64_t sendBuffer = -1;
  int64_t receiveBuffer = -1;
  int64_t udpSendBuffer = -1;
  int64_t udpReceiveBuffer = -1;
  int64_t maxBandwidth = -1;
  // > 0: replace UDT's congestion control with RateCC (ratecc.h) at this IP-level rate.
  double rateMbit = -1;
  double rateLossThreshold = 0.1;
};

SocketOptions ReadOptions(const Napi::Value& value);
// Must run before bind/connect: UDT rejects buffer and MSS changes on an opened socket.
bool ApplyOptions(UDTSOCKET u, const SocketOptions& opts, UdtError* err);

// UDT sets UDP_SNDBUF/UDP_RCVBUF with SO_SNDBUF/SO_RCVBUF, which the kernel silently caps at
// net.core.{w,r}mem_max (often 4 MiB, too little for a receiver that falls behind at 400
// Mbit/s on a busy machine: the kernel then drops datagrams and UDT retransmits). After u
// was bound to a new UDP port, this raises the buffers of UDT's socket on that port to the
// requested sizes with SO_*BUFFORCE, which a process with CAP_NET_ADMIN may do; otherwise
// the capped sizes stay. Returns whether the requested sizes are in effect.
bool ForceUdpBuffers(UDTSOCKET u, const SocketOptions& opts);

bool ParseAddress(const std::string& ip, int port, sockaddr_storage* out, int* len);
Napi::Value AddressToJs(Napi::Env env, const sockaddr_storage& addr);
Napi::Value LocalAddress(Napi::Env env, UDTSOCKET u);
Napi::Value PeerAddress(Napi::Env env, UDTSOCKET u);

void NameThread(const char* name);

// Anything owning native threads registers here so that process exit can interrupt and
// join them before UDT::cleanup() and static destructors run (see InstallExitHandler).
class Tracked {
 public:
  virtual ~Tracked() = default;
  // Wakes every thread of this object out of blocking UDT calls; idempotent.
  virtual void Interrupt() = 0;
  // Joins the threads; safe to call more than once and from the JS thread only.
  virtual void Join() = 0;
};

void Track(const std::shared_ptr<Tracked>& t);
void Untrack(const Tracked* t);
void InstallExitHandler();

// For UDT calls that do not block for long but may wait on locks held by UDT's own threads
// or by a blocked send/recv (UDT::close): run them on libuv's pool, never on the JS thread.
void RunInBackground(Napi::Env env, std::function<void()> work);

}  // namespace cumulus_udt
