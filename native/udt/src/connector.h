// One outgoing connection attempt, run on its own thread because UDT's connect handshake
// blocks (up to ~3 s per attempt) and cannot be interrupted once started.
#pragma once

#include "common.h"

#include <atomic>
#include <chrono>
#include <thread>

namespace cumulus_udt {

struct ConnectResult;
class ConnectOp;

void ConnectCallJs(Napi::Env env, Napi::Function callback, ConnectOp* context, ConnectResult* data);
using ConnectTsfn = Napi::TypedThreadSafeFunction<ConnectOp, ConnectResult, ConnectCallJs>;

class ConnectOp : public Tracked, public std::enable_shared_from_this<ConnectOp> {
 public:
  ConnectOp(const sockaddr_storage& addr, int addrLen, SocketOptions opts,
            std::chrono::steady_clock::time_point deadline, std::string where)
      : addr_(addr), addrLen_(addrLen), opts_(opts), deadline_(deadline), where_(std::move(where)) {}
  ~ConnectOp() override;

  void Start(Napi::Env env, Napi::Function onDone);
  void Abandon(Napi::Env env);
  const std::string& where() const { return where_; }

  void Interrupt() override { abandoned_ = true; }
  void Join() override;

 private:
  void Main();

  const sockaddr_storage addr_;
  const int addrLen_;
  const SocketOptions opts_;
  const std::chrono::steady_clock::time_point deadline_;
  const std::string where_;
  std::atomic<bool> abandoned_{false};
  ConnectTsfn tsfn_;
  std::thread thread_;
  std::mutex joinMutex_;
};

class ConnectWrap : public Napi::ObjectWrap<ConnectWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit ConnectWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Abandon(const Napi::CallbackInfo& info);
  std::shared_ptr<ConnectOp> op_;
};

}  // namespace cumulus_udt
