#include "common.h"

#include "ratecc.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>

#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <vector>

namespace cumulus_udt {

namespace {

struct ErrorName {
  int code;
  const char* name;
};

// Names follow CUDTException's public constants (udt.h); the numbers are UDT's
// major * 1000 + minor encoding.
constexpr ErrorName kErrorNames[] = {
    {0, "SUCCESS"},        {1000, "ECONNSETUP"},   {1001, "ENOSERVER"},    {1002, "ECONNREJ"},
    {1003, "ESOCKFAIL"},   {1004, "ESECFAIL"},     {2000, "ECONNFAIL"},    {2001, "ECONNLOST"},
    {2002, "ENOCONN"},     {3000, "ERESOURCE"},    {3001, "ETHREAD"},      {3002, "ENOBUF"},
    {4000, "EFILE"},       {4001, "EINVRDOFF"},    {4002, "ERDPERM"},      {4003, "EINVWROFF"},
    {4004, "EWRPERM"},     {5000, "EINVOP"},       {5001, "EBOUNDSOCK"},   {5002, "ECONNSOCK"},
    {5003, "EINVPARAM"},   {5004, "EINVSOCK"},     {5005, "EUNBOUNDSOCK"}, {5006, "ENOLISTEN"},
    {5007, "ERDVNOSERV"},  {5008, "ERDVUNBOUND"},  {5009, "ESTREAMILL"},   {5010, "EDGRAMILL"},
    {5011, "EDUPLISTEN"},  {5012, "ELARGEMSG"},    {5013, "EINVPOLLID"},   {6000, "EASYNCFAIL"},
    {6001, "EASYNCSND"},   {6002, "EASYNCRCV"},    {6003, "ETIMEOUT"},     {7000, "EPEERERR"},
    {-1, "EUNKNOWN"},
};

const char* NameOf(int code) {
  for (const auto& e : kErrorNames) {
    if (e.code == code) return e.name;
  }
  return "EUNKNOWN";
}

}  // namespace

UdtError LastError() {
  UDT::ERRORINFO& info = UDT::getlasterror();
  UdtError err;
  err.code = info.getErrorCode();
  err.message = info.getErrorMessage();
  info.clear();
  return err;
}

UdtError ErrorFromCode(int code) {
  UdtError err;
  err.code = code;
  // errno 0 keeps UDT from appending an unrelated strerror() to the text.
  CUDTException e(code < 0 ? -1 : code / 1000, code < 0 ? 0 : code % 1000, 0);
  err.message = e.getErrorMessage();
  return err;
}

Napi::Error MakeJsError(Napi::Env env, const UdtError& err, const std::string& context) {
  if (err.code == kProtocolError) {
    std::string msg = context.empty() ? err.message : context + ": " + err.message;
    Napi::Error e = Napi::Error::New(env, "ERR_UDT_PROTOCOL: " + msg);
    e.Set("code", Napi::String::New(env, "ERR_UDT_PROTOCOL"));
    return e;
  }
  std::string code = std::string("UDT_") + NameOf(err.code);
  std::string text = err.message.empty() ? std::string("UDT error") : err.message;
  std::string msg = context.empty() ? code + ": " + text : context + ": " + code + ": " + text;
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  e.Set("udtCode", Napi::Number::New(env, err.code));
  return e;
}

SocketOptions ReadOptions(const Napi::Value& value) {
  SocketOptions o;
  if (!value.IsObject()) return o;
  Napi::Object obj = value.As<Napi::Object>();
  auto read = [&](const char* key, int64_t* out) {
    Napi::Value v = obj.Get(key);
    if (v.IsNumber()) *out = v.As<Napi::Number>().Int64Value();
  };
  read("mss", &o.mss);
  read("sendBufferSize", &o.sendBuffer);
  read("receiveBufferSize", &o.receiveBuffer);
  read("udpSendBufferSize", &o.udpSendBuffer);
  read("udpReceiveBufferSize", &o.udpReceiveBuffer);
  read("maxBandwidth", &o.maxBandwidth);
  Napi::Value rate = obj.Get("rateMbit");
  if (rate.IsNumber()) o.rateMbit = rate.As<Napi::Number>().DoubleValue();
  Napi::Value threshold = obj.Get("rateLossThreshold");
  if (threshold.IsNumber()) o.rateLossThreshold = threshold.As<Napi::Number>().DoubleValue();
  return o;
}

bool ApplyOptions(UDTSOCKET u, const SocketOptions& o, UdtError* err) {
  auto setInt = [&](UDTOpt opt, int64_t v) {
    if (v < 0) return true;
    int iv = static_cast<int>(v);
    if (UDT::setsockopt(u, 0, opt, &iv, sizeof(iv)) == UDT::ERROR) {
      *err = LastError();
      return false;
    }
    return true;
  };
  // The addon flushes and closes on its own terms (see connection.cc); UDT's default 180 s
  // linger would make close() block the calling thread while unsent data drains.
  linger l{0, 0};
  if (UDT::setsockopt(u, 0, UDT_LINGER, &l, sizeof(l)) == UDT::ERROR) {
    *err = LastError();
    return false;
  }
  // UDT caps the MSS at the UDP buffer sizes, and converts byte-sized UDT buffers into
  // packets using the current MSS: UDP buffers first, then MSS, then the UDT buffers.
  if (!setInt(UDP_SNDBUF, o.udpSendBuffer)) return false;
  if (!setInt(UDP_RCVBUF, o.udpReceiveBuffer)) return false;
  if (!setInt(UDT_MSS, o.mss)) return false;
  if (o.receiveBuffer > 0) {
    // UDT silently caps the receive buffer at the flight flag size (25600 packets by
    // default); raise that window so a large requested buffer is honoured.
    int mss = 0;
    int len = sizeof(mss);
    if (UDT::getsockopt(u, 0, UDT_MSS, &mss, &len) == UDT::ERROR) {
      *err = LastError();
      return false;
    }
    int64_t packets = o.receiveBuffer / (mss - 28) + 1;
    if (packets > 25600 && !setInt(UDT_FC, packets)) return false;
  }
  if (!setInt(UDT_RCVBUF, o.receiveBuffer)) return false;
  if (!setInt(UDT_SNDBUF, o.sendBuffer)) return false;
  if (o.maxBandwidth > 0) {
    int64_t bw = o.maxBandwidth;
    if (UDT::setsockopt(u, 0, UDT_MAXBW, &bw, sizeof(bw)) == UDT::ERROR) {
      *err = LastError();
      return false;
    }
  }
  if (o.rateMbit > 0) {
    // UDT clones the factory into the socket (and into every socket a listener accepts).
    RateCCFactory factory(o.rateMbit, o.rateLossThreshold);
    if (UDT::setsockopt(u, 0, UDT_CC, &factory, sizeof(factory)) == UDT::ERROR) {
      *err = LastError();
      return false;
    }
  }
  return true;
}

bool ForceUdpBuffers(UDTSOCKET u, const SocketOptions& o) {
  if (o.udpReceiveBuffer <= 0 && o.udpSendBuffer <= 0) return true;
  sockaddr_storage mine;
  int len = sizeof(mine);
  std::memset(&mine, 0, sizeof(mine));
  if (UDT::getsockname(u, reinterpret_cast<sockaddr*>(&mine), &len) == UDT::ERROR) {
    LastError();
    return false;
  }
  auto portOf = [](const sockaddr_storage& a) -> int {
    if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&a)->sin_port);
    if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&a)->sin6_port);
    return -1;
  };
  // UDT does not expose the UDP socket of its multiplexer; find it among our descriptors by
  // its local port (one UDP socket per port and family).
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return false;
  bool done = false;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    long fd = strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || fd == dirfd(dir)) continue;
    int type = 0;
    socklen_t tl = sizeof(type);
    if (getsockopt(int(fd), SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_DGRAM) continue;
    sockaddr_storage a;
    socklen_t al = sizeof(a);
    std::memset(&a, 0, sizeof(a));
    if (getsockname(int(fd), reinterpret_cast<sockaddr*>(&a), &al) != 0) continue;
    if (a.ss_family != mine.ss_family || portOf(a) != portOf(mine)) continue;
    bool ok = true;
    if (o.udpReceiveBuffer > 0) {
      int v = static_cast<int>(o.udpReceiveBuffer);
      ok = setsockopt(int(fd), SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) == 0 && ok;
    }
    if (o.udpSendBuffer > 0) {
      int v = static_cast<int>(o.udpSendBuffer);
      ok = setsockopt(int(fd), SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v)) == 0 && ok;
    }
    done = ok;
    break;
  }
  closedir(dir);
  return done;
}

bool ParseAddress(const std::string& ip, int port, sockaddr_storage* out, int* len) {
  std::memset(out, 0, sizeof(*out));
  auto* v4 = reinterpret_cast<sockaddr_in*>(out);
  if (inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in);
    return true;
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(out);
  if (inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(static_cast<uint16_t>(port));
    *len = sizeof(sockaddr_in6);
    return true;
  }
  return false;
}

Napi::Value AddressToJs(Napi::Env env, const sockaddr_storage& addr) {
  char text[INET6_ADDRSTRLEN] = {0};
  int port = 0;
  const char* family = "IPv4";
  if (addr.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
    port = ntohs(v4->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
    port = ntohs(v6->sin6_port);
    family = "IPv6";
  } else {
    return env.Null();
  }
  Napi::Object o = Napi::Object::New(env);
  o.Set("address", Napi::String::New(env, text));
  o.Set("port", Napi::Number::New(env, port));
  o.Set("family", Napi::String::New(env, family));
  return o;
}

Napi::Value LocalAddress(Napi::Env env, UDTSOCKET u) {
  sockaddr_storage addr;
  int len = sizeof(addr);
  std::memset(&addr, 0, sizeof(addr));
  if (UDT::getsockname(u, reinterpret_cast<sockaddr*>(&addr), &len) == UDT::ERROR) {
    LastError();
    return env.Null();
  }
  return AddressToJs(env, addr);
}

Napi::Value PeerAddress(Napi::Env env, UDTSOCKET u) {
  sockaddr_storage addr;
  int len = sizeof(addr);
  std::memset(&addr, 0, sizeof(addr));
  if (UDT::getpeername(u, reinterpret_cast<sockaddr*>(&addr), &len) == UDT::ERROR) {
    LastError();
    return env.Null();
  }
  return AddressToJs(env, addr);
}

void NameThread(const char* name) { pthread_setname_np(pthread_self(), name); }

namespace {

std::mutex g_registryMutex;
std::unordered_map<const Tracked*, std::weak_ptr<Tracked>>& Registry() {
  // Leaked on purpose: it must outlive every static destructor that could still run
  // while the exit handler walks it.
  static auto* registry = new std::unordered_map<const Tracked*, std::weak_ptr<Tracked>>();
  return *registry;
}

void OnProcessExit() {
  std::vector<std::shared_ptr<Tracked>> live;
  {
    std::lock_guard<std::mutex> lock(g_registryMutex);
    for (auto& [key, weak] : Registry()) {
      if (auto t = weak.lock()) live.push_back(std::move(t));
    }
    Registry().clear();
  }
  for (auto& t : live) t->Interrupt();
  for (auto& t : live) t->Join();
  // Stops UDT's garbage collector, which closes every socket and joins the per-port
  // send/receive threads; otherwise those threads would still run while libudt's static
  // objects are destroyed.
  UDT::cleanup();
}

class BackgroundWork : public Napi::AsyncWorker {
 public:
  BackgroundWork(Napi::Env env, std::function<void()> work)
      : Napi::AsyncWorker(env, "udt-background"), work_(std::move(work)) {}
  void Execute() override { work_(); }

 private:
  std::function<void()> work_;
};

}  // namespace

void Track(const std::shared_ptr<Tracked>& t) {
  std::lock_guard<std::mutex> lock(g_registryMutex);
  Registry()[t.get()] = t;
}

void Untrack(const Tracked* t) {
  std::lock_guard<std::mutex> lock(g_registryMutex);
  Registry().erase(t);
}

void InstallExitHandler() {
  static std::once_flag once;
  std::call_once(once, [] {
    UDT::startup();
    // Registered after libudt's static objects were constructed, so it runs before their
    // destructors.
    std::atexit(OnProcessExit);
  });
}

void RunInBackground(Napi::Env env, std::function<void()> work) {
  auto* w = new BackgroundWork(env, std::move(work));
  w->Queue();
}

}  // namespace cumulus_udt
