#include "connector.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>
#include <map>
#include <tuple>
#include <vector>

namespace cumulus_udt {

namespace {

// Outgoing connections share local UDP ports. Left to itself UDT opens a port, with its own
// send and receive threads, for every connecting socket; its garbage collector later joins
// those threads while holding UDT's global lock, and with a few hundred short-lived
// connections that stalls every UDT call for seconds (handshakes then time out). Sockets
// bound to the same port share one such "multiplexer" (UDT_REUSEADDR is on by default) as
// long as family, MSS and UDP buffer sizes match, hence the key.
//
// A port carries at most one handshake at a time: UDT's blocking connect waits on a
// condition shared by the whole port and wakes only one waiter per packet, so concurrent
// handshakes on one port stall each other for UDT's 1 s wait.
struct PortKey {
  int family;
  int64_t mss;
  int64_t udpSend;
  int64_t udpReceive;
  bool operator<(const PortKey& o) const {
    return std::tie(family, mss, udpSend, udpReceive) < std::tie(o.family, o.mss, o.udpSend, o.udpReceive);
  }
};

struct PortSlot {
  uint16_t port;
  bool connecting;
};

std::mutex g_portMutex;
std::map<PortKey, std::vector<PortSlot>> g_ports;

void SetPort(sockaddr_storage* addr, uint16_t port) {
  if (addr->ss_family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(addr)->sin_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in6*>(addr)->sin6_port = htons(port);
  }
}

uint16_t GetPort(const sockaddr_storage& addr) {
  return ntohs(addr.ss_family == AF_INET ? reinterpret_cast<const sockaddr_in*>(&addr)->sin_port
                                         : reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
}

// Binds u to a shared local port with no handshake in progress, opening (and remembering)
// a new one when none is free. Returns the port to hand back with ReleasePort, or 0.
uint16_t BindShared(UDTSOCKET u, int family, const SocketOptions& opts, UdtError* err) {
  PortKey key{family, opts.mss, opts.udpSendBuffer, opts.udpReceiveBuffer};
  sockaddr_storage local;
  std::memset(&local, 0, sizeof(local));
  local.ss_family = static_cast<sa_family_t>(family);
  int len = family == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
  std::lock_guard<std::mutex> lock(g_portMutex);
  std::vector<PortSlot>& slots = g_ports[key];
  for (auto it = slots.begin(); it != slots.end(); ++it) {
    if (it->connecting) continue;
    SetPort(&local, it->port);
    if (UDT::bind(u, reinterpret_cast<sockaddr*>(&local), len) != UDT::ERROR) {
      it->connecting = true;
      return it->port;
    }
    // Its multiplexer is gone and someone else took the port; UDT leaves the socket
    // usable only for a fresh attempt.
    LastError();
    slots.erase(it);
    return 0;
  }
  SetPort(&local, 0);
  if (UDT::bind(u, reinterpret_cast<sockaddr*>(&local), len) == UDT::ERROR) {
    *err = LastError();
    return 0;
  }
  int got = sizeof(local);
  if (UDT::getsockname(u, reinterpret_cast<sockaddr*>(&local), &got) == UDT::ERROR) {
    *err = LastError();
    return 0;
  }
  uint16_t port = GetPort(local);
  ForceUdpBuffers(u, opts);
  slots.push_back({port, true});
  return port;
}

void ReleasePort(int family, const SocketOptions& opts, uint16_t port) {
  PortKey key{family, opts.mss, opts.udpSendBuffer, opts.udpReceiveBuffer};
  std::lock_guard<std::mutex> lock(g_portMutex);
  for (PortSlot& slot : g_ports[key]) {
    if (slot.port == port) slot.connecting = false;
  }
}

}  // namespace

struct ConnectResult {
  bool ok = false;
  UDTSOCKET socket = UDT::INVALID_SOCK;
  UdtError err;
};

void ConnectCallJs(Napi::Env env, Napi::Function callback, ConnectOp* op, ConnectResult* raw) {
  std::unique_ptr<ConnectResult> res(raw);
  if (env == nullptr || callback.IsEmpty()) {
    if (res->ok && UDT::close(res->socket) == UDT::ERROR) LastError();
    return;
  }
  Napi::HandleScope scope(env);
  try {
    if (res->ok) {
      callback.Call({env.Null(), Napi::Number::New(env, res->socket)});
    } else {
      callback.Call({MakeJsError(env, res->err, op->where()).Value()});
    }
  } catch (const Napi::Error& e) {
    e.ThrowAsJavaScriptException();
  }
}

ConnectOp::~ConnectOp() {
  if (thread_.joinable()) {
    if (thread_.get_id() == std::this_thread::get_id()) {
      thread_.detach();
    } else {
      thread_.join();
    }
  }
}

void ConnectOp::Start(Napi::Env env, Napi::Function onDone) {
  auto* keep = new std::shared_ptr<ConnectOp>(shared_from_this());
  tsfn_ = ConnectTsfn::New(
      env, onDone, "udt-connect", 0, 1, this,
      [](Napi::Env, std::shared_ptr<ConnectOp>* keep, ConnectOp* self) {
        std::unique_ptr<std::shared_ptr<ConnectOp>> owner(keep);
        self->Interrupt();
        self->Join();
        Untrack(self);
      },
      keep);
  try {
    thread_ = std::thread([this] { Main(); });
  } catch (const std::system_error&) {
    tsfn_.Release();
    throw Napi::Error::New(env, "UDT_ETHREAD: could not start the connect thread");
  }
}

void ConnectOp::Abandon(Napi::Env env) {
  if (abandoned_.exchange(true)) return;
  // The handshake may run on for up to ~3 s; it must not keep the process alive.
  tsfn_.Unref(env);
}

void ConnectOp::Join() {
  std::lock_guard<std::mutex> lock(joinMutex_);
  if (thread_.joinable()) thread_.join();
}

void ConnectOp::Main() {
  NameThread("udt-connect");
  auto* res = new ConnectResult();
  int staleRetries = 0;
  for (;;) {
    UDTSOCKET u = UDT::socket(addr_.ss_family, SOCK_STREAM, 0);
    if (u == UDT::INVALID_SOCK) {
      res->err = LastError();
      break;
    }
    UdtError err;
    uint16_t port = ApplyOptions(u, opts_, &err) ? BindShared(u, addr_.ss_family, opts_, &err) : 0;
    if (port == 0) {
      if (UDT::close(u) == UDT::ERROR) LastError();
      // A remembered port that could not be bound was forgotten; try again.
      if (err.code == 0 && staleRetries++ < 8) continue;
      res->err = err;
      break;
    }
    bool connected = UDT::connect(u, reinterpret_cast<const sockaddr*>(&addr_), addrLen_) != UDT::ERROR;
    if (!connected) res->err = LastError();
    ReleasePort(addr_.ss_family, opts_, port);
    if (connected) {
      res->ok = true;
      res->socket = u;
      break;
    }
    if (UDT::close(u) == UDT::ERROR) LastError();
    // UDT gives up a handshake after a fixed ~3 s (ENOSERVER); keep trying with a fresh
    // socket while the caller's timeout allows.
    bool retry = res->err.code == 1001 && !abandoned_ &&
                 std::chrono::steady_clock::now() + std::chrono::milliseconds(100) < deadline_;
    if (!retry) break;
  }
  if (res->ok && abandoned_) {
    if (UDT::close(res->socket) == UDT::ERROR) LastError();
    delete res;
  } else if (tsfn_.NonBlockingCall(res) != napi_ok) {
    if (res->ok && UDT::close(res->socket) == UDT::ERROR) LastError();
    delete res;
  }
  tsfn_.Release();
}

// ---------------------------------------------------------------------------------------

Napi::Function ConnectWrap::Define(Napi::Env env) {
  return DefineClass(env, "UdtConnectRequest",
                     {InstanceMethod<&ConnectWrap::Abandon>("abandon")});
}

// new UdtConnectRequest(ip, port, timeoutMs, options, onDone(err, handle))
ConnectWrap::ConnectWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ConnectWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 5 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber() ||
      !info[4].IsFunction()) {
    throw Napi::TypeError::New(
        env, "UdtConnectRequest(ip: string, port: number, timeoutMs: number, options, onDone)");
  }
  std::string ip = info[0].As<Napi::String>();
  int port = info[1].As<Napi::Number>().Int32Value();
  int64_t timeoutMs = info[2].As<Napi::Number>().Int64Value();
  sockaddr_storage addr;
  int addrLen = 0;
  std::string where = "connect " + ip + ":" + std::to_string(port);
  if (!ParseAddress(ip, port, &addr, &addrLen)) {
    throw Napi::TypeError::New(env, where + ": not an IP address");
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  op_ = std::make_shared<ConnectOp>(addr, addrLen, ReadOptions(info[3]), deadline, where);
  Track(op_);
  op_->Start(env, info[4].As<Napi::Function>());
}

Napi::Value ConnectWrap::Abandon(const Napi::CallbackInfo& info) {
  op_->Abandon(info.Env());
  return info.Env().Undefined();
}

}  // namespace cumulus_udt
